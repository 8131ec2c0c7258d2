"""Render many Gaussian blobs into a periodic volume: trilinear splat, then FFT blur.

Example:
    centres = np.array([[32.0, 10.5, 60.2]])          # (n, 3) voxel coordinates (z, y, x)
    masses = gaussian_mass(np.array([1.0]), np.array([2.0]))
    volume = render_blobs((64, 64, 64), centres, masses, sigmas_voxel=np.array([2.0]))

Each blob is a 3D Gaussian of standard deviation `sigma` (voxels) whose integral is its mass.
Blobs that share a sigma are splatted onto one point map and blurred together by a single
FFT, so hundreds of thousands of blobs cost a few FFTs. The volume is periodic on every axis:
a blob near a face continues on the opposite face.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

logger = logging.getLogger(__name__)


def gaussian_mass(peak: np.ndarray, sigma_voxel: np.ndarray) -> np.ndarray:
    """Mass (integral) of isotropic 3D Gaussians with the given peak values and sigmas."""
    return peak * (2.0 * math.pi) ** 1.5 * sigma_voxel**3


def splat_points(
    shape_zyx: tuple[int, int, int], centres_zyx: np.ndarray, masses: np.ndarray
) -> np.ndarray:
    """Distribute each point's mass over its 8 neighbouring voxels (trilinear, periodic).

    Args:
        shape_zyx: volume shape (z, y, x).
        centres_zyx: (n, 3) float voxel coordinates, index units.
        masses: (n,) mass of each point.

    Returns:
        (z, y, x) float64 volume whose sum equals masses.sum().
    """
    shape = np.asarray(shape_zyx)
    floor = np.floor(centres_zyx)
    frac = centres_zyx - floor
    base = floor.astype(np.int64)
    flat_indices = []
    flat_weights = []
    for corner in np.ndindex(2, 2, 2):
        offset = np.asarray(corner)
        index = (base + offset) % shape
        weight = np.prod(np.where(offset == 1, frac, 1.0 - frac), axis=1)
        flat_indices.append(np.ravel_multi_index(index.T, shape_zyx))
        flat_weights.append(weight * masses)
    counts = np.bincount(
        np.concatenate(flat_indices),
        weights=np.concatenate(flat_weights),
        minlength=int(np.prod(shape)),
    )
    return counts.reshape(shape_zyx)


def render_blobs(
    shape_zyx: tuple[int, int, int],
    centres_zyx: np.ndarray,
    masses: np.ndarray,
    sigmas_voxel: np.ndarray,
) -> np.ndarray:
    """Sum of periodic 3D Gaussian blobs.

    Args:
        shape_zyx: volume shape (z, y, x).
        centres_zyx: (n, 3) blob centres in voxel index coordinates (any real value; wrapped).
        masses: (n,) integral of each blob.
        sigmas_voxel: (n,) standard deviation of each blob in voxels; blobs are grouped by
            exact sigma value, one FFT per distinct value.

    Returns:
        (z, y, x) float32 volume, clipped at 0 (FFT round-off never makes it negative).
    """
    spectrum: torch.Tensor | None = None
    freq_sq = _frequency_squared(shape_zyx)
    for sigma in np.unique(sigmas_voxel):
        chosen = sigmas_voxel == sigma
        points = splat_points(shape_zyx, centres_zyx[chosen], masses[chosen])
        transfer = torch.exp(-2.0 * math.pi**2 * float(sigma) ** 2 * freq_sq)
        term = torch.fft.rfftn(torch.from_numpy(points.astype(np.float32))) * transfer
        spectrum = term if spectrum is None else spectrum + term
    if spectrum is None:
        return np.zeros(shape_zyx, dtype=np.float32)
    return torch.fft.irfftn(spectrum, s=shape_zyx).clamp_(min=0.0).numpy()


def _frequency_squared(shape_zyx: tuple[int, int, int]) -> torch.Tensor:
    """|k|² in (cycles/voxel)² on the rfftn grid of `shape_zyx`, float32."""
    kz = torch.fft.fftfreq(shape_zyx[0])[:, None, None]
    ky = torch.fft.fftfreq(shape_zyx[1])[None, :, None]
    kx = torch.fft.rfftfreq(shape_zyx[2])[None, None, :]
    return kz**2 + ky**2 + kx**2
