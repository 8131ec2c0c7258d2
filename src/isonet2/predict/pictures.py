"""Pictures a person looks at: central XY/XZ/YZ slices of volumes and their power spectra.

Example:
    save_slices_png({"raw": central_slices(raw), "corrected": central_slices(corrected)},
                    Path("preview/epoch10_TS_01.png"))

Each row of the figure is one volume: the three central slices (contrast clipped at the 1st
and 99th percentiles) and the log power spectrum of each slice, where a missing wedge shows
as a dark cone in XZ and fills in as training goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from isonet2.io.figures import save_figure

_VIEWS = ("XY", "XZ", "YZ")


Slices = tuple[np.ndarray, np.ndarray, np.ndarray]


def central_slices(volume: np.ndarray) -> Slices:
    """(XY at z/2, XZ at y/2, YZ at x/2) as float32 images; XZ/YZ have Z vertical.

    Only the three slices are read, so `volume` may be a memory map of any size.
    """
    z, y, x = (n // 2 for n in volume.shape)
    return (
        np.asarray(volume[z], np.float32),
        np.asarray(volume[:, y, :], np.float32),
        np.asarray(volume[:, :, x], np.float32),
    )


def log_power(image: np.ndarray) -> np.ndarray:
    """Centred log power spectrum of a 2D image."""
    spectrum = np.fft.fftshift(np.fft.fft2(image - image.mean()))
    return np.log1p(np.abs(spectrum) ** 2).astype(np.float32)


def _show(axis: plt.Axes, image: np.ndarray, title: str) -> None:
    low, high = np.percentile(image, [1, 99])
    axis.imshow(image, cmap="gray", vmin=low, vmax=high if high > low else low + 1)
    axis.set_title(title, fontsize=8)
    axis.axis("off")


def save_slices_png(volumes: Mapping[str, Slices], path: Path) -> Path:
    """Write one figure row per named volume's central slices (+ spectra), atomically."""
    rows = len(volumes)
    figure, axes = plt.subplots(rows, 6, figsize=(15, 2.8 * rows), squeeze=False)
    for r, (name, slices) in enumerate(volumes.items()):
        for c, (view, image) in enumerate(zip(_VIEWS, slices, strict=True)):
            _show(axes[r, c], image, f"{name} {view}")
            _show(axes[r, c + 3], log_power(image), f"{name} {view} power")
    figure.tight_layout(h_pad=1.5)  # a row's titles touched the square XY image above them
    return save_figure(figure, path, dpi=80)


def save_fsc_png(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], pixel_size_angstrom: float, path: Path
) -> Path:
    """Plot FSC curves (frequency in cycles/pixel, FSC) with the 0.5 and 0.143 lines."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, (freq, fsc) in curves.items():
        axis.plot(np.asarray(freq) / pixel_size_angstrom, np.asarray(fsc), label=name)
    for level in (0.5, 0.143):
        axis.axhline(level, color="grey", linestyle="--", linewidth=0.8)
    axis.set_xlabel("spatial frequency (1/Å)")
    axis.set_ylabel("FSC")
    axis.set_ylim(-0.1, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path, dpi=100)
