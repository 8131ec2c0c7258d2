"""Overlapping cubic tiles over a volume, mirror padding, and blending weights that sum to one.

Example:
    grid = TileGrid.for_volume((160, 400, 400), cube=96, padding_factor=1.5)
    for z0 in grid.starts[0]:
        tile = read_tile(volume, (z0, y0, x0), 96)       # mirror-padded where it leaves the volume
        weight = grid.weight_cube((z0, y0, x0))            # w(z)/S(z) · w(y)/S(y) · w(x)/S(x)

Tiles start `margin` voxels before the volume and step by `stride` = round(cube/padding_factor)
until they cover it. Each tile is weighted by a separable window (1 in the middle, a cos²
taper over the overlap, never 0) divided by the window sum of its axis, so for every voxel of
the volume the weights of all tiles covering it sum to exactly one: blending an identity
network's tiles gives the input back, and no weight volume is ever allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isonet2.preprocess.finite import require_finite

_WINDOW_FLOOR = 1e-3


def axis_starts(length: int, cube: int, stride: int) -> np.ndarray:
    """Tile start positions along one axis (may be negative or run past the end: mirrored)."""
    margin = (cube - stride) // 2
    first = -margin
    count = max(1, int(np.ceil((length + margin - first - cube) / stride)) + 1)
    return first + stride * np.arange(count, dtype=np.int64)


def window(cube: int, overlap: int) -> np.ndarray:
    """1D blending window: cos² tapers of `overlap` voxels at both ends, 1 between, floor > 0."""
    ramp = np.ones(cube, dtype=np.float64)
    if overlap > 0:
        t = (np.arange(overlap) + 0.5) / overlap
        taper = np.sin(0.5 * np.pi * t) ** 2
        ramp[:overlap] = taper
        ramp[cube - overlap :] = taper[::-1]
    return np.maximum(ramp, _WINDOW_FLOOR)


def axis_weights(length: int, cube: int, starts: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Per-tile normalised 1D weights, shape (tiles, cube): columns over the volume sum to 1.

    Positions outside [0, length) get weight 0 (they are mirror padding, never written).
    """
    total = np.zeros(length, dtype=np.float64)
    for start in starts:
        lo, hi = max(start, 0), min(start + cube, length)
        if hi > lo:
            total[lo:hi] += win[lo - start : hi - start]
    weights = np.zeros((len(starts), cube), dtype=np.float64)
    for i, start in enumerate(starts):
        lo, hi = max(start, 0), min(start + cube, length)
        if hi > lo:
            weights[i, lo - start : hi - start] = win[lo - start : hi - start] / total[lo:hi]
    return weights


@dataclass(frozen=True)
class TileGrid:
    """The tile layout of one volume: per-axis starts and normalised 1D weights."""

    shape: tuple[int, int, int]
    cube: int
    stride: int
    starts: tuple[np.ndarray, np.ndarray, np.ndarray]
    weights: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def for_volume(
        cls, shape: tuple[int, int, int], cube: int, padding_factor: float = 1.5
    ) -> TileGrid:
        """Lay out tiles of edge `cube` with stride ≈ cube / padding_factor (at least 1)."""
        if padding_factor < 1:
            raise ValueError("padding_factor must be >= 1")
        stride = max(1, min(cube, round(cube / padding_factor)))
        win = window(cube, cube - stride)
        starts = tuple(axis_starts(n, cube, stride) for n in shape)
        weights = tuple(axis_weights(n, cube, s, win) for n, s in zip(shape, starts, strict=True))
        return cls(shape, cube, stride, starts, weights)  # type: ignore[arg-type]

    @property
    def count(self) -> int:
        """Number of tiles."""
        return int(np.prod([len(s) for s in self.starts]))

    def rows_touching(self, z_start: int, z_stop: int) -> range:
        """The Z tile rows (indices into starts[0]) holding a slice of [z_start, z_stop).

        Mirror padding does not count: a row touches only the slices its tiles write.
        """
        depth, cube = self.shape[0], self.cube
        touching = [
            row
            for row, start in enumerate(self.starts[0])
            if max(start, 0, z_start) < min(start + cube, depth, z_stop)
        ]
        return range(touching[0], touching[-1] + 1) if touching else range(0)

    def weight_cube(self, index: tuple[int, int, int]) -> np.ndarray:
        """The (cube, cube, cube) float32 weight of tile `index` (its position in each axis)."""
        wz, wy, wx = (w[i] for w, i in zip(self.weights, index, strict=True))
        return (wz[:, None, None] * wy[None, :, None] * wx[None, None, :]).astype(np.float32)


def read_tile(volume: np.ndarray, start: tuple[int, int, int], cube: int) -> np.ndarray:
    """A (cube,)*3 float32 tile at `start`; parts outside the volume are mirror images of it.

    Only the overlapping part of `volume` (e.g. a memory map) is read; a NaN or infinite voxel
    in it is an InputError naming the voxel and the volume's file.
    """
    lo = [max(s, 0) for s in start]
    hi = [min(s + cube, n) for s, n in zip(start, volume.shape, strict=True)]
    block = np.asarray(volume[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], dtype=np.float32)
    require_finite(block, volume, (lo[0], lo[1], lo[2]))
    pads = [(lo_i - s, s + cube - hi_i) for s, lo_i, hi_i in zip(start, lo, hi, strict=True)]
    if any(before or after for before, after in pads):
        block = np.pad(block, pads, mode="symmetric")
    return block
