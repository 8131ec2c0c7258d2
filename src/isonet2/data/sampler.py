"""Subtomogram centres: where training cubes may lie, and each epoch's reproducible draw.

Example:
    sampler = SubtomogramSampler(tomoset, 96, seed=0, rank=rank, world_size=world_size)
    centres = sampler.centres(epoch)      # (n, 4) int64 rows [tomogram position, z, y, x]
    pool = centre_pool(tomoset[0], 96)    # one tomogram's valid centres
    more = pool.draw(10, np.random.default_rng(0))   # (10, 3) int64 (z, y, x)

A centre c is valid when its cube [c - cube//2, c - cube//2 + cube) fits inside the volume on
every axis and the mask (any non-zero voxel; none = whole volume) is non-zero at c
(ALGORITHM §5). Masks are scanned once, one Z slice at a time, into a coarse grid of cells
(at most MAX_CELLS cells, each keeping one known valid voxel); draws pick a random valid cell
and a random voxel in it and reject it where the mask is zero, so centres are uniform over the
mask while memory stays bounded by a few Z slices and the cell list.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from isonet2.data.tomograms import NUMBER_COLUMN, MappedVolume, Tomogram, TomogramSet
from isonet2.errors import InputError
from isonet2.preprocess.finite import require_finite

logger = logging.getLogger(__name__)

YHalf = Literal["top", "bottom"]
MAX_CELLS = 2**18
MAX_REJECTION_ROUNDS = 32
# random streams per (seed, epoch); each stream's key is [seed, epoch, stream, position]
CENTRES_STREAM, SHUFFLE_STREAM, SWAP_STREAM = 0, 1, 2


def epoch_rng(seed: int, epoch: int, stream: int, position: int = 0) -> np.random.Generator:
    """An independent generator for one purpose of one epoch, the same on every rank."""
    return np.random.default_rng([seed, epoch, stream, position])


def centre_box(
    shape_zyx: tuple[int, int, int], cube_size: int, y_half: YHalf | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (low, high) (3,) int64 bounds of centres whose cube fits in `shape_zyx`.

    With `y_half`, the Y range is limited so that top cubes end by Y//2 and bottom cubes start
    at Y//2 or later: top and bottom cubes never share a voxel. Empty when any low > high.
    """
    half = cube_size // 2
    low = np.full(3, half, dtype=np.int64)
    high = np.asarray(shape_zyx, dtype=np.int64) - cube_size + half
    middle = shape_zyx[1] // 2
    if y_half == "top":
        high[1] = min(high[1], middle - cube_size + half)
    elif y_half == "bottom":
        low[1] = max(low[1], middle + half)
    return low, high


@dataclass(frozen=True, eq=False)
class CentrePool:
    """The valid centres of one tomogram: a box, and for a mask its non-empty cells.

    `low`/`high` (3,) int64 inclusive bounds (z, y, x). With a mask, `cells` (n, 3) int32 are
    the first voxels of the stride³ cells holding at least one valid centre and
    `representatives` (n, 3) int32 one valid centre in each; without a mask both are None.
    """

    low: np.ndarray
    high: np.ndarray
    mask: MappedVolume | None
    stride: int
    cells: np.ndarray | None
    representatives: np.ndarray | None

    def draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """`count` centres (count, 3) int64 (z, y, x), uniform over the valid centres.

        Rejection sampling over the cells, at most MAX_REJECTION_ROUNDS rounds; any still
        rejected (a mask far sparser than its cells) takes its last cell's known valid voxel.
        """
        if self.cells is None or self.representatives is None or self.mask is None:
            return rng.integers(self.low, self.high + 1, size=(count, 3), dtype=np.int64)
        mask = self.mask.data
        centres = np.empty((count, 3), dtype=np.int64)
        todo = np.arange(count)
        chosen = np.zeros(0, dtype=np.int64)
        for _ in range(MAX_REJECTION_ROUNDS):
            if todo.size == 0:
                break
            chosen = rng.integers(0, len(self.cells), size=todo.size)
            offsets = rng.integers(0, self.stride, size=(todo.size, 3))
            candidates = self.cells[chosen].astype(np.int64) + offsets
            accepted = np.all(candidates <= self.high, axis=1)
            inside = candidates[accepted]
            accepted[accepted] = mask[inside[:, 0], inside[:, 1], inside[:, 2]] != 0
            centres[todo[accepted]] = candidates[accepted]
            todo, chosen = todo[~accepted], chosen[~accepted]
        if todo.size:
            logger.debug(
                "%s: %d centres fell back to cell representatives", self.mask.path, todo.size
            )
            centres[todo] = self.representatives[chosen]
        return centres


def centre_pool(
    tomogram: Tomogram,
    cube_size: int,
    *,
    y_half: YHalf | None = None,
    max_cells: int = MAX_CELLS,
) -> CentrePool:
    """Find where `tomogram`'s cubes may be centred; InputError if nowhere.

    Reads the mask once, one Z slice at a time; keeps at most `max_cells` cells.
    """
    low, high = centre_box(tomogram.shape, cube_size, y_half)
    where = f" in the {y_half} half along Y" if y_half else ""
    if np.any(low > high):
        raise InputError(
            f"{tomogram.name}: shape {tomogram.shape} leaves no room for a {cube_size}³ cube"
            f"{where}; use a smaller --cube_size"
            + (" or train without split_halves" if y_half else "")
        )
    if tomogram.mask is None:
        return CentrePool(low, high, None, 1, None, None)
    stride = _cell_stride(high - low + 1, max_cells)
    cells, representatives = _scan_cells(tomogram.mask, low, high, stride)
    if len(cells) == 0:
        raise InputError(
            f"{tomogram.mask.path}: no masked voxel lies {cube_size // 2} or more voxels from "
            f"every face{where} of {tomogram.name} {tomogram.shape}, so no {cube_size}³ cube "
            "fits; remake the mask larger or use a smaller --cube_size"
        )
    return CentrePool(low, high, tomogram.mask, stride, cells, representatives)


def _cell_stride(extent: np.ndarray, max_cells: int) -> int:
    """The smallest cell edge giving at most `max_cells` cells over a box of `extent` voxels."""
    stride = max(1, math.floor((float(np.prod(extent)) / max_cells) ** (1 / 3)))
    while int(np.prod(-(-extent // stride))) > max_cells:
        stride += 1
    return stride


def _check_mask_values(
    values: np.ndarray, mask: MappedVolume, corner_zyx: tuple[int, int, int]
) -> None:
    """InputError for a mask slice with NaN, infinite or negative values: a tomogram (or a
    broken file) named as the mask would mark almost every voxel, silently."""
    require_finite(values[None], mask.path, corner_zyx)
    if values.size and float(values.min()) < 0:
        raise InputError(
            f"{mask.path}: holds negative values (down to {float(values.min()):g} in Z slice "
            f"{corner_zyx[0]}), so it is not a mask: a mask is 0 where no subtomogram may be "
            "centred and positive elsewhere; is rlnMaskName the right file? (make_mask writes "
            "one)"
        )


def _scan_cells(
    mask: MappedVolume, low: np.ndarray, high: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of `stride`³ voxels in the box [low, high] that hold a non-zero mask voxel.

    Returns (first voxel of each such cell, one non-zero voxel in it), both (n, 3) int32.
    """
    (z_low, y_low, x_low), (z_high, y_high, x_high) = low.tolist(), high.tolist()
    ny, nx = -(-(y_high - y_low + 1) // stride), -(-(x_high - x_low + 1) // stride)
    plane = np.zeros((ny * stride, nx * stride), dtype=bool)
    cells, representatives = [], []
    for z_cell in range(z_low, z_high + 1, stride):
        found = np.zeros((ny, nx), dtype=bool)
        first = np.zeros((ny, nx, 3), dtype=np.int32)
        for z in range(z_cell, min(z_cell + stride, z_high + 1)):
            values = mask.data[z, y_low : y_high + 1, x_low : x_high + 1]
            _check_mask_values(values, mask, (z, y_low, x_low))
            plane[: values.shape[0], : values.shape[1]] = values != 0
            by_cell = plane.reshape(ny, stride, nx, stride).transpose(0, 2, 1, 3)
            blocks = by_cell.reshape(ny, nx, stride * stride)
            new = blocks.any(axis=2) & ~found
            if new.any():
                flat = blocks[new].argmax(axis=1)
                cy, cx = np.nonzero(new)
                first[new] = np.stack(
                    [
                        np.full(cy.size, z),
                        y_low + cy * stride + flat // stride,
                        x_low + cx * stride + flat % stride,
                    ],
                    axis=1,
                )
                found |= new
        cy, cx = np.nonzero(found)
        corners = np.stack([np.full(cy.size, z_cell), y_low + cy * stride, x_low + cx * stride], 1)
        cells.append(corners.astype(np.int32))
        representatives.append(first[found])
    return np.concatenate(cells), np.concatenate(representatives)


class SubtomogramSampler:
    """Each epoch's cube centres for one rank, reproducible from (seed, epoch).

    An epoch holds every tomogram's number_subtomos centres (box-file coordinates when the
    tomogram has them, a fresh permutation each epoch; otherwise uniform over the valid
    centres), shuffled together. Every rank draws the same full list and keeps items
    rank, rank + world_size, ... of its first multiple-of-world_size items, so ranks never
    share a centre and all ranks have the same count. `y_half` keeps only centres whose cubes
    lie in the top (low Y) or bottom (high Y) half, for split-halves training.
    """

    def __init__(
        self,
        tomoset: TomogramSet,
        cube_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        y_half: YHalf | None = None,
    ) -> None:
        if cube_size != tomoset.cube_size:
            raise ValueError(f"cube_size {cube_size} differs from the set's {tomoset.cube_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        if y_half not in (None, "top", "bottom"):
            raise ValueError(f"y_half must be None, 'top' or 'bottom', not {y_half!r}")
        self.tomoset, self.cube_size, self.seed = tomoset, cube_size, seed
        self.rank, self.world_size = rank, world_size
        self._sources: list[CentrePool | np.ndarray] = [
            self._source(tomogram, y_half) for tomogram in tomoset.tomograms
        ]
        total = tomoset.total_subtomos
        if total < world_size:
            raise InputError(
                f"an epoch has {total} subtomograms, fewer than the {world_size} processes; "
                f"raise {NUMBER_COLUMN} (prepare_star --number_subtomos)"
            )

    def _source(self, tomogram: Tomogram, y_half: YHalf | None) -> CentrePool | np.ndarray:
        if tomogram.coordinates_zyx is None:
            return centre_pool(tomogram, self.cube_size, y_half=y_half)
        coordinates = tomogram.coordinates_zyx
        if y_half is not None:
            low, high = centre_box(tomogram.shape, self.cube_size, y_half)
            keep = (coordinates[:, 1] >= low[1]) & (coordinates[:, 1] <= high[1])
            coordinates = coordinates[keep]
            if len(coordinates) == 0:
                raise InputError(
                    f"{tomogram.box_file}: no coordinate has {low[1]} <= y <= {high[1]}, the "
                    f"{y_half} half of {tomogram.name}; add coordinates there or train without "
                    "split_halves"
                )
        return coordinates

    def __len__(self) -> int:
        """Centres per epoch for this rank."""
        return self.tomoset.total_subtomos // self.world_size

    def epoch_centres(self, epoch: int) -> np.ndarray:
        """The whole epoch's centres (n, 4) int64 [tomogram position, z, y, x], every rank's."""
        parts = []
        for position, (tomogram, source) in enumerate(
            zip(self.tomoset.tomograms, self._sources, strict=True)
        ):
            rng = epoch_rng(self.seed, epoch, CENTRES_STREAM, position)
            count = tomogram.number_subtomos
            if isinstance(source, CentrePool):
                zyx = source.draw(count, rng)
            else:
                rounds = -(-count // len(source))
                order = np.concatenate([rng.permutation(len(source)) for _ in range(rounds)])
                zyx = source[order[:count]]
            parts.append(np.column_stack([np.full(count, position, dtype=np.int64), zyx]))
        everything = np.concatenate(parts)
        return everything[epoch_rng(self.seed, epoch, SHUFFLE_STREAM).permutation(len(everything))]

    def centres(self, epoch: int) -> np.ndarray:
        """This rank's centres (n, 4) int64 [tomogram position, z, y, x] for `epoch`."""
        everything = self.epoch_centres(epoch)
        usable = len(everything) - len(everything) % self.world_size
        return everything[self.rank : usable : self.world_size]
