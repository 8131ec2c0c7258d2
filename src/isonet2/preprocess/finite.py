"""Refuse NaN and infinite voxels where a volume is read, naming the file and the voxel.

Example:
    slab = np.asarray(volume[z0:z1])
    require_finite(slab, volume, (z0, 0, 0))   # InputError: "t.mrc: voxel (z, y, x) = ..."

One NaN or infinite voxel spreads through every Fourier filter, mean and network pass that
touches it: a Wiener filter or a tile of prediction comes out all NaN, a mask's thresholds
become meaningless. Every reader of tomogram data (normalisation statistics, deconv, make_mask,
training cubes, prediction tiles) checks the blocks it reads anyway, so the check costs one
pass over data already in memory and no extra read of the file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from isonet2.errors import InputError


def volume_name(volume: object) -> str:
    """The file behind a memory-mapped volume (relative to the working folder where it lies
    under it), else "the volume"."""
    filename = getattr(volume, "filename", None)
    if not filename:
        return "the volume"
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def require_finite(
    block: np.ndarray, source: object, corner_zyx: tuple[int, int, int] = (0, 0, 0)
) -> None:
    """Raise InputError if `block` holds NaN or an infinity, naming the first such voxel.

    `block` is the part of a (z, y, x) volume whose first voxel is `corner_zyx`; `source` is
    the volume's file name (a str or Path) or the volume itself (a memory map knows its file).
    """
    finite = np.isfinite(block)
    if finite.all():
        return
    first = tuple(int(i) for i in np.argwhere(~finite)[0])
    z, y, x = (i + int(c) for i, c in zip(first, corner_zyx, strict=True))
    name = str(source) if isinstance(source, str | Path) else volume_name(source)
    raise InputError(
        f"{name}: voxel (z, y, x) = ({z}, {y}, {x}) is {block[first]}; NaN or infinite values "
        "make every result around them NaN: replace them (e.g. with the map's mean) or "
        "reconstruct the map again"
    )


def constant_volume_error(volume: object, value: float) -> InputError:
    """The error for a volume whose every voxel is `value` (an all-zero map, a failed
    reconstruction): filtering it or masking it would only write the constant back."""
    return InputError(
        f"{volume_name(volume)}: every voxel is {value:g}; the map is empty or its reconstruction "
        "failed: reconstruct it again or take its row out of the star"
    )


def require_finite_volume(volume: np.ndarray, slices_per_read: int = 16) -> tuple[float, float]:
    """require_finite over a whole (z, y, x) volume, read a few Z slices at a time (for
    commands that use every voxel and read nothing else block by block, e.g. evaluate);
    returns the volume's (min, max) from the same read."""
    low, high = math.inf, -math.inf
    for z0 in range(0, volume.shape[0], slices_per_read):
        block = np.asarray(volume[z0 : z0 + slices_per_read])
        require_finite(block, volume, (z0, 0, 0))
        low, high = min(low, float(block.min())), max(high, float(block.max()))
    return low, high
