"""Specimen masks: the dense, textured part of a tomogram as a 0/1 int8 volume (ALGORITHM §7).

Example:
    volume = open_volume("tomo_deconv.mrc")                          # (z, y, x) memory map
    with new_volume("tomo_mask.mrc", volume.shape, dtype=np.int8) as out:
        make_mask(volume, out=out, patch_size=4, density_percentage=50.0,
                  std_percentage=50.0, z_crop=0.2)

Steps: bin by 2 (2x2x2 means; an odd edge's last bin averages what is there); Gaussian blur with
sigma = patch_size / 2; density criterion = local maximum of the negated volume (protein is dark)
in a (2 * patch_size + 1)^3 box, keeping the top density_percentage %; std criterion = local
standard deviation in the same box, keeping the top std_percentage %; both must hold. A
percentage above 99.8 switches its criterion off. The binned mask is upsampled by nearest
neighbour to the exact original shape, round(z * z_crop / 2) slices are zeroed at the top and at
the bottom, and an optional (y, x) boundary polygon limits every slice. All work after binning is
float32 on the binned volume (1/8 of the voxels).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy import ndimage

from isonet2.errors import InputError
from isonet2.io.pages import release_pages
from isonet2.preprocess.deconv import SLAB_BYTES
from isonet2.preprocess.finite import (
    constant_volume_error,
    require_finite,
    require_finite_volume,
)

logger = logging.getLogger(__name__)

DISABLE_ABOVE = 99.8  # a percentage above this keeps every voxel: the criterion is off


def bin2(volume: np.ndarray) -> np.ndarray:
    """2x2x2 mean of a (z, y, x) volume, float32 (ceil(z/2), ceil(y/2), ceil(x/2)).

    An odd axis's last bin is the mean of its one remaining layer; a NaN or infinite voxel is an
    InputError naming it. Reads pairs of Z slices at a time, so a memory-mapped volume is never
    loaded whole.
    """
    nz, ny, nx = volume.shape
    binned = np.empty(((nz + 1) // 2, (ny + 1) // 2, (nx + 1) // 2), dtype=np.float32)
    pairs = max(1, SLAB_BYTES // (2 * ny * nx * 8))
    for first in range(0, binned.shape[0], pairs):
        lo, hi = 2 * first, min(2 * (first + pairs), nz)
        slab = np.asarray(volume[lo:hi], dtype=np.float64)
        require_finite(slab, volume, (lo, 0, 0))
        pad = [(0, n % 2) for n in slab.shape]
        if any(after for _, after in pad):
            slab = np.pad(slab, pad, mode="edge")
        bz, by, bx = (n // 2 for n in slab.shape)
        binned[first : first + bz] = slab.reshape(bz, 2, by, 2, bx, 2).mean(axis=(1, 3, 5))
        release_pages(volume)
    return binned


def keep_top(values: np.ndarray, percentage: float) -> np.ndarray:
    """Boolean mask of the largest ``percentage`` % of ``values`` (ties at the cut are kept).

    Above 99.8 % every value is kept.
    """
    if percentage > DISABLE_ABOVE:
        return np.ones(values.shape, dtype=bool)
    count = values.size
    keep = min(count, max(1, math.ceil(count * percentage / 100.0)))
    threshold = np.partition(values.ravel(), count - keep)[count - keep]
    return values >= threshold


def binned_mask(
    binned: np.ndarray, *, patch_size: int, density_percentage: float, std_percentage: float
) -> np.ndarray:
    """The density AND std criteria on a binned (z, y, x) volume, as a bool array of its shape."""
    if patch_size < 1:
        raise InputError(f"patch_size must be at least 1, got {patch_size}")
    for name, value in (("density", density_percentage), ("std", std_percentage)):
        if not 0 < value <= 100:
            raise InputError(f"{name}_percentage must lie in (0, 100], got {value}")
    box = 2 * patch_size + 1
    smooth = ndimage.gaussian_filter(binned, sigma=patch_size / 2.0, output=np.float32)
    smooth -= smooth.mean(dtype=np.float64)  # centred, so the float32 variance below is exact
    np.negative(smooth, out=smooth)
    mask = keep_top(ndimage.maximum_filter(smooth, size=box), density_percentage)
    if std_percentage <= DISABLE_ABOVE:
        local_mean = ndimage.uniform_filter(smooth, size=box)
        np.square(smooth, out=smooth)
        local_var = ndimage.uniform_filter(smooth, size=box)
        del smooth
        local_var -= np.square(local_mean, out=local_mean)
        np.sqrt(np.maximum(local_var, 0.0, out=local_var), out=local_var)
        mask &= keep_top(local_var, std_percentage)
    return mask


def polygon_mask(shape_yx: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    """(y, x) bool mask of the pixels whose centre lies inside any of the polygons.

    Each polygon is an (n, 2) array of (x, y) vertices in pixels, in drawing order (closed
    implicitly); inside means an odd number of edge crossings (even-odd rule).
    """
    ny, nx = shape_yx
    y = np.arange(ny, dtype=np.float64)[:, None]
    x = np.arange(nx, dtype=np.float64)[None, :]
    inside = np.zeros(shape_yx, dtype=bool)
    for polygon in polygons:
        if len(polygon) < 3:
            raise InputError(f"a boundary polygon needs at least 3 points, got {len(polygon)}")
        odd = np.zeros(shape_yx, dtype=bool)
        for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
            if y1 == y2:
                continue
            crosses = (y1 > y) != (y2 > y)
            x_at_y = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            odd ^= crosses & (x < x_at_y)
        inside |= odd
    return inside


def make_mask(
    volume: np.ndarray,
    *,
    patch_size: int,
    density_percentage: float,
    std_percentage: float,
    z_crop: float,
    boundary_yx: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Mask of a (z, y, x) volume: 1 where the specimen is, 0 elsewhere, int8 of its shape.

    Args:
        volume: (z, y, x) array of any real dtype, typically a memory map.
        patch_size: box half-size of the local filters, in binned voxels.
        density_percentage, std_percentage: percentages kept by each criterion, in (0, 100].
        z_crop: fraction of Z zeroed, half at the top and half at the bottom, in [0, 1).
        boundary_yx: optional (y, x) bool mask (see ``polygon_mask``) applied to every slice.
        out: int8 (z, y, x) array to write into, e.g. a ``new_volume`` memory map; new if None.

    Returns:
        ``out``, int8 0/1.
    """
    if volume.ndim != 3:
        raise InputError(f"make_mask needs a (z, y, x) volume, got shape {volume.shape}")
    if not 0 <= z_crop < 1:
        raise InputError(f"z_crop must lie in [0, 1), got {z_crop}")
    nz, ny, nx = volume.shape
    if boundary_yx is not None and boundary_yx.shape != (ny, nx):
        raise ValueError(f"boundary shape {boundary_yx.shape} differs from (y, x) = {(ny, nx)}")
    binned = bin2(volume)
    # every criterion would keep every voxel of a constant map (read again only in that case)
    if binned.min() == binned.max() and len(set(require_finite_volume(volume))) == 1:
        raise constant_volume_error(volume, float(binned.flat[0]))
    mask = binned_mask(
        binned,
        patch_size=patch_size,
        density_percentage=density_percentage,
        std_percentage=std_percentage,
    )
    if out is None:
        out = np.empty(volume.shape, dtype=np.int8)
    crop = round(nz * z_crop / 2)
    rows, columns = np.arange(ny) // 2, np.arange(nx) // 2
    step = max(1, SLAB_BYTES // (ny * nx))
    for lo in range(0, nz, step):
        hi = min(lo + step, nz)
        slab = mask[np.arange(lo, hi) // 2][:, rows][:, :, columns]
        slab[: max(0, crop - lo)] = False
        slab[max(0, nz - crop - lo) :] = False
        if boundary_yx is not None:
            slab &= boundary_yx
        out[lo:hi] = slab
        release_pages(out)
    kept = float(mask.mean()) * 100.0
    logger.debug("mask keeps %.1f %% of the binned voxels before z_crop", kept)
    return out
