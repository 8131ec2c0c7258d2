"""Weighted back-projection: ramp-filter each image along X, then back-project about Y.

Example:
    volume = weighted_back_projection(images, angles, (64, 128, 128), apodization="hamming")

The ramp is the Ram-Lak filter built in real space (h[0] = 1/4, h[odd n] = -1/(pi n)^2),
which keeps the right low-frequency weight instead of zeroing the mean. Images are padded
by repeating their edge pixels to at least twice their width before filtering, so the
circular convolution never wraps. Each tilt is weighted by its share of the angular range
(trapezoid rule, radians), so a full 180° series of line integrals reconstructs the density
in its own units and the two edge tilts, which lie on the wedge's boundary, count half.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from isonet2.errors import InputError
from isonet2.simulate.projector import back_project

logger = logging.getLogger(__name__)

Apodization = Literal["none", "cosine", "hamming"]


def ramp_filter(images: torch.Tensor, apodization: Apodization = "hamming") -> torch.Tensor:
    """Filter each image row (along the detector's u axis) by the apodised ramp |f|.

    Args:
        images: (n, y, u) float32 tensor.
        apodization: "none" (pure ramp), "cosine" (x cos(pi f)) or "hamming"
            (x 0.54 + 0.46 cos(2 pi f)), f in cycles/pixel.

    Returns:
        (n, y, u) float32 tensor.
    """
    check_apodization(apodization)
    count, size_y, width = images.shape
    padded_width = 2 * width
    pad_left = (padded_width - width) // 2
    rows = images.reshape(count * size_y, 1, width)
    padded = F.pad(rows, (pad_left, padded_width - width - pad_left), mode="replicate")
    response = _ramp_response(padded_width, apodization)
    filtered = torch.fft.irfft(torch.fft.rfft(padded) * response, n=padded_width)
    return filtered[..., pad_left : pad_left + width].reshape(count, size_y, width)


def check_apodization(apodization: str) -> None:
    """InputError unless `apodization` names a known window."""
    if apodization not in _WINDOWS:
        known = ", ".join(_WINDOWS)
        raise InputError(f"unknown WBP apodization {apodization!r}; choose one of: {known}")


def weighted_back_projection(
    images: torch.Tensor,
    tilt_angles_deg: np.ndarray,
    shape_zyx: tuple[int, int, int],
    apodization: Apodization = "hamming",
) -> torch.Tensor:
    """Reconstruct a (z, y, x) volume from a tilt series of line-integral images.

    Args:
        images: (n, y, u) float32 tensor, geometry as in `isonet2.simulate.projector`.
        tilt_angles_deg: (n,) tilt angles, sorted ascending.
        shape_zyx: output shape (z, y, x).
        apodization: window on the ramp filter, see `ramp_filter`.

    Returns:
        (z, y, x) float32 tensor.
    """
    angles = np.asarray(tilt_angles_deg, dtype=np.float64)
    weights = torch.from_numpy(angular_weights_rad(angles).astype(np.float32))
    filtered = ramp_filter(images, apodization) * weights[:, None, None]
    return back_project(filtered, angles, shape_zyx)


def angular_weights_rad(tilt_angles_deg: np.ndarray) -> np.ndarray:
    """(n,) trapezoid-rule weights of sorted tilts over [first, last], radians.

    Each tilt weighs half the angle between its two neighbours; the first and last weigh
    half a step, so the edge slices of the measured wedge are not over-weighted.
    """
    radians = np.deg2rad(np.asarray(tilt_angles_deg, dtype=np.float64))
    if len(radians) == 1:
        return np.array([math.pi])
    gaps = np.diff(radians)
    return 0.5 * (np.concatenate([gaps, [0.0]]) + np.concatenate([[0.0], gaps]))


def _ramp_response(length: int, apodization: Apodization) -> torch.Tensor:
    """(length // 2 + 1,) real rfft response of the apodised Ram-Lak filter."""
    offsets = np.abs(np.fft.fftfreq(length, d=1.0 / length))
    kernel = np.zeros(length)
    kernel[0] = 0.25
    odd = offsets % 2 == 1
    kernel[odd] = -1.0 / (math.pi * offsets[odd]) ** 2
    frequency = np.fft.rfftfreq(length)
    response = np.fft.rfft(kernel).real * _WINDOWS[apodization](frequency)
    return torch.from_numpy(response.astype(np.float32))


_WINDOWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": np.ones_like,
    "cosine": lambda f: np.cos(math.pi * f),
    "hamming": lambda f: 0.54 + 0.46 * np.cos(2.0 * math.pi * f),
}
