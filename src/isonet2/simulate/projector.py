"""Tilt-series geometry: line-integral projector and (unweighted) back-projector about Y.

Example:
    angles = np.linspace(-60.0, 60.0, 41)
    width = detector_width(volume.shape, angles)
    images = project(volume, angles, width)             # (41, y, width)
    smeared = back_project(images, angles, volume.shape) # (z, y, x)

Geometry (volumes (z, y, x), Z = beam, Y = tilt axis): coordinates are relative to the
voxel (Z//2, *, X//2), the zero frequency of the centred spectrum. The image at tilt t
integrates along the real-space direction (z, x) = (cos t, -sin t); its detector coordinate
is u = z sin t + x cos t, pixel U//2 being u = 0. By the Fourier slice theorem the image's
spectrum is the central plane of the volume's spectrum holding the ky axis and the direction
(kz, kx) = (sin t, cos t): for t > 0 the quadrant where kz and kx share a sign, as
`isonet2.fourier.wedge.missing_wedge_mask` expects.

The projector is ray-driven: samples one voxel apart along each ray, bilinear in (z, x).
X is periodic (an infinite lamella, like the phantom), so every ray crosses the whole
specimen whatever the tilt; Z is not (vacuum beyond the volume). Rays steeper than 80° would
run along the lamella for ever; their path is capped at the length a ray at 80° has. The
back-projector is voxel-driven: each voxel reads each image at its own u, linearly
interpolated. Both are sparse weighted sums run by `embedding_bag`, with Y as the
embedding dimension, so all Y slices are done at once.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

MAX_RAY_TILT_DEG = 80.0
_BACK_PROJECT_ENTRIES = 1 << 24
"""Interpolation entries per back-projection call (bounds the index arrays' memory)."""


def detector_width(
    shape_zyx: tuple[int, ...], tilt_angles_deg: np.ndarray, margin_pixels: int = 0
) -> int:
    """Even number of detector pixels that sees every voxel at every tilt, plus a margin.

    Args:
        shape_zyx: volume shape (z, y, x).
        tilt_angles_deg: (n,) tilt angles.
        margin_pixels: extra pixels on each side (room for the CTF's point spread).
    """
    size_z, _, size_x = shape_zyx
    radians = np.deg2rad(np.asarray(tilt_angles_deg, dtype=np.float64))
    reach_z = max(size_z // 2, size_z - 1 - size_z // 2)
    reach_x = max(size_x // 2, size_x - 1 - size_x // 2)
    reach = np.max(reach_z * np.abs(np.sin(radians)) + reach_x * np.abs(np.cos(radians)))
    return 2 * (math.ceil(reach) + 2 + margin_pixels)


def project(volume: torch.Tensor, tilt_angles_deg: np.ndarray, width: int) -> torch.Tensor:
    """Line integrals of a volume through each tilt (unit step along the ray, voxel units).

    Args:
        volume: (z, y, x) float32 tensor.
        tilt_angles_deg: (n,) tilt angles about Y.
        width: detector pixels along u (see `detector_width`).

    Returns:
        (n, y, width) float32 images; image[t, y, j] is the integral along the ray at
        u = j - width // 2 in slice y.
    """
    size_z, size_y, size_x = volume.shape
    table = volume.permute(0, 2, 1).reshape(size_z * size_x, size_y).contiguous()
    images = []
    for angle in np.asarray(tilt_angles_deg, dtype=np.float64):
        indices, weights, offsets = _ray_entries((size_z, size_x), float(angle), width)
        images.append(
            F.embedding_bag(indices, table, offsets, mode="sum", per_sample_weights=weights)
        )
    return torch.stack(images).permute(0, 2, 1).contiguous()


def back_project(
    images: torch.Tensor, tilt_angles_deg: np.ndarray, shape_zyx: tuple[int, ...]
) -> torch.Tensor:
    """Sum over tilts of each image smeared back along its rays (the adjoint geometry).

    Args:
        images: (n, y, width) float32 tensor, one image per tilt.
        tilt_angles_deg: (n,) tilt angles about Y.
        shape_zyx: output shape (z, y, x); y must equal the images' y.

    Returns:
        (z, y, x) float32 tensor: out[z, y, x] = sum_t image_t(y, u) at
        u = (z - Z//2) sin t + (x - X//2) cos t, linearly interpolated.
    """
    size_z, size_y, size_x = shape_zyx
    count, _, width = images.shape
    table = images.permute(0, 2, 1).reshape(count * width, size_y).contiguous()
    radians = np.deg2rad(np.asarray(tilt_angles_deg, dtype=np.float64))
    z = (np.arange(size_z) - size_z // 2).astype(np.float64)[:, None, None]
    x = (np.arange(size_x) - size_x // 2).astype(np.float64)[None, :, None]
    chunk = max(_BACK_PROJECT_ENTRIES // (2 * size_z * size_x), 1)
    result = torch.zeros(size_z * size_x, size_y)
    for start in range(0, count, chunk):
        tilts = np.arange(start, min(start + chunk, count))
        u = z * np.sin(radians[tilts]) + x * np.cos(radians[tilts]) + width // 2
        low = np.floor(u)
        frac = u - low
        pixel = (tilts - start) * width + low.astype(np.int64)
        indices = np.stack([pixel, pixel + 1], axis=-1).reshape(size_z * size_x, -1)
        weights = np.stack([1.0 - frac, frac], axis=-1).reshape(size_z * size_x, -1)
        result += F.embedding_bag(
            torch.from_numpy(indices.ravel()),
            table[start * width : (start + len(tilts)) * width],
            torch.arange(0, indices.size, indices.shape[1]),
            mode="sum",
            per_sample_weights=torch.from_numpy(weights.ravel().astype(np.float32)),
        )
    return result.reshape(size_z, size_x, size_y).permute(0, 2, 1).contiguous()


def _ray_entries(
    shape_zx: tuple[int, int], angle_deg: float, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear sample weights of every ray of one tilt, as embedding_bag arguments.

    Returns:
        indices into the flattened (z, x) plane, their weights, and the offset where each
        of the `width` rays (bags) starts.
    """
    size_z, size_x = shape_zx
    radians = math.radians(angle_deg)
    capped = math.radians(float(np.clip(angle_deg, -MAX_RAY_TILT_DEG, MAX_RAY_TILT_DEG)))
    sin, cos = math.sin(radians), math.cos(radians)
    u = (np.arange(width) - width // 2).astype(np.float64)[:, None]
    middle = (size_z - 1) / 2.0 - size_z // 2
    samples = math.ceil((size_z + 1) / math.cos(capped)) + 1
    tau = (middle - u * math.sin(capped)) / math.cos(capped) + (
        np.arange(samples) - (samples - 1) / 2.0
    )
    z = size_z // 2 + u * sin + tau * cos
    x = size_x // 2 + u * cos - tau * sin
    z_low, x_low = np.floor(z), np.floor(x)
    fz, fx = z - z_low, x - x_low
    z_low, x_low = z_low.astype(np.int64), x_low.astype(np.int64)
    z_corner = np.stack([z_low, z_low, z_low + 1, z_low + 1], axis=-1).reshape(width, -1)
    x_corner = np.stack([x_low, x_low + 1, x_low, x_low + 1], axis=-1).reshape(width, -1)
    weights = np.stack(
        [(1 - fz) * (1 - fx), (1 - fz) * fx, fz * (1 - fx), fz * fx], axis=-1
    ).reshape(width, -1)
    inside = (z_corner >= 0) & (z_corner < size_z)
    indices = z_corner[inside] * size_x + x_corner[inside] % size_x
    offsets = np.concatenate([[0], np.cumsum(inside.sum(axis=1))[:-1]])
    return (
        torch.from_numpy(indices),
        torch.from_numpy(weights[inside].astype(np.float32)),
        torch.from_numpy(offsets),
    )
