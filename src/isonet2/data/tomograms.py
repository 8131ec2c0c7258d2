"""Star rows -> tomograms: checked memory-mapped volumes, normalisation stats, masks, coordinates.

Example:
    rows = read_star("tomograms.star").rows
    tomoset = open_tomogram_set(rows, source="halves", cube_size=96)
    even, odd = tomoset[0].halves                  # MappedVolume, (z, y, x), opened lazily
    mean, std = tomoset[0].stats[0]                # central-slab stats of the even half
    cube = even.crop((10, 20, 30), 96)             # float32 (96, 96, 96) from corner (z, y, x)

Every file a row names is checked once here (exists, readable, shapes agree, large enough for
the training cube), and the normalisation statistics (ALGORITHM §4) are computed once per
volume, so training never reads a whole tomogram. Volumes pickle as their paths, so a
TomogramSet can be sent to DataLoader workers, each re-opening its own memory maps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from isonet2.errors import InputError
from isonet2.io.coordinates import read_coordinates
from isonet2.io.mrc import open_volume, read_info
from isonet2.io.progress import counted
from isonet2.io.star import (
    COLUMNS,
    DECONV_COLUMN,
    HALF1_COLUMN,
    MASK_COLUMN,
    TOMOGRAM_COLUMN,
    TomogramRow,
    check_path_column,
    missing_file,
)
from isonet2.preprocess.finite import require_finite
from isonet2.preprocess.normalize import usable_slab_stats

logger = logging.getLogger(__name__)

Source = Literal["halves", "single"]


def _label(attribute: str) -> str:
    """The star label of a TomogramRow attribute (star.py owns the spelling)."""
    return next(label for label, (name, _) in COLUMNS.items() if name == attribute)


HALF2_COLUMN = _label("half2_path")
BOX_COLUMN = _label("box_file")
NUMBER_COLUMN = _label("number_subtomos")


@dataclass(frozen=True)
class MappedVolume:
    """One MRC volume (z, y, x) as a read-only memory map opened on first use.

    `column` is the star label the path came from (for messages). Pickling keeps only the path
    and shape; the unpickled copy opens its own memory map.
    """

    path: Path
    shape: tuple[int, int, int]
    column: str
    _memmap: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def data(self) -> np.ndarray:
        """The whole volume as a read-only memory map (z, y, x) in the file's dtype."""
        memmap = self._memmap
        if memmap is None:
            memmap = open_volume(self.path)
            object.__setattr__(self, "_memmap", memmap)
        return memmap

    def crop(self, corner_zyx: tuple[int, int, int], size: int) -> np.ndarray:
        """The float32 cube (size, size, size) whose first voxel is `corner_zyx`; reads only it.

        A NaN or infinite voxel in it is an InputError naming the voxel and the file.
        """
        z0, y0, x0 = corner_zyx
        block = self.data[z0 : z0 + size, y0 : y0 + size, x0 : x0 + size]
        if block.shape != (size, size, size):
            raise ValueError(f"cube at {corner_zyx} of size {size} leaves {self.path} {self.shape}")
        cube = np.asarray(block, dtype=np.float32)
        require_finite(cube, self.path, corner_zyx)
        return cube

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_memmap"] = None
        return state


@dataclass(frozen=True, eq=False)
class Tomogram:
    """One star row, checked and ready to sample: volumes, stats, mask, physics, coordinates.

    `volumes` is (even, odd) for source "halves", (map,) for "single"; `stats[i]` is the
    (mean, std) of `volumes[i]` over its central 60 Z slices. `shape` is (z, y, x) in voxels.
    `coordinates_zyx` holds the centres (n, 3) int64 in voxels read from `box_file`, already
    moved inward so the training cube fits, or None.
    """

    index: int
    name: str
    source: Source
    volumes: tuple[MappedVolume, ...]
    stats: tuple[tuple[float, float], ...]
    mask: MappedVolume | None
    shape: tuple[int, int, int]
    tilt_min_deg: float
    tilt_max_deg: float
    pixel_size_angstrom: float
    defocus_angstrom: float
    voltage_kv: float
    cs_mm: float
    amplitude_contrast: float
    number_subtomos: int
    box_file: Path | None
    coordinates_zyx: np.ndarray | None
    column: str = ""  # the star column a single map came from; "" for halves

    @property
    def halves(self) -> tuple[MappedVolume, MappedVolume]:
        """(even, odd); only for a tomogram opened with source "halves"."""
        if self.source != "halves":
            raise ValueError(f"{self.name} was opened as a single map, not as even/odd halves")
        return self.volumes[0], self.volumes[1]


@dataclass(frozen=True, eq=False)
class TomogramSet:
    """The tomograms of one run, in star order, all opened for the same source and cube size."""

    tomograms: tuple[Tomogram, ...]
    source: Source
    cube_size: int

    def __len__(self) -> int:
        return len(self.tomograms)

    def __getitem__(self, position: int) -> Tomogram:
        return self.tomograms[position]

    @property
    def total_subtomos(self) -> int:
        """Cubes per epoch: the sum of every tomogram's number_subtomos."""
        return sum(t.number_subtomos for t in self.tomograms)


def open_tomogram_set(
    rows: list[TomogramRow],
    *,
    source: Source,
    input_column: str | None = None,
    cube_size: int,
) -> TomogramSet:
    """Open and check every row's files for training on cubes of `cube_size`³ voxels.

    source "halves" reads the even/odd half tomograms; "single" reads `input_column`, or when
    None each row's rlnDeconvTomoName falling back to rlnTomoName (what predict and the
    previews read by default, so a model sees at prediction the kind of map it trained on;
    training rlnTomoName after `deconv` made the tutorial's deconv step reach only the
    previews and predictions). Raises InputError (one line) for a
    missing file or column value, mismatched shapes, or a tomogram smaller than the cube.
    """
    if source not in ("halves", "single"):
        raise ValueError(f"source must be 'halves' or 'single', not {source!r}")
    if cube_size < 1:
        raise ValueError(f"cube_size must be positive, not {cube_size}")
    if not rows:
        raise InputError("the star file has no tomogram rows; run isonet.py prepare_star first")
    column = check_path_column(input_column) if input_column else None
    tomograms = tuple(_open_row(row, source, column, cube_size) for row in rows)
    if source == "single":
        read = [t.column for t in tomograms]
        logger.info(
            "single maps from %s",
            ", ".join(
                f"{name} ({counted(read.count(name), 'row')})" for name in dict.fromkeys(read)
            ),
        )
    logger.info(
        "opened %s (%s), %d cubes of %d³ per epoch",
        counted(len(tomograms), "tomogram"),
        source,
        sum(t.number_subtomos for t in tomograms),
        cube_size,
    )
    return TomogramSet(tomograms=tomograms, source=source, cube_size=cube_size)


def _open_row(row: TomogramRow, source: Source, column: str | None, cube_size: int) -> Tomogram:
    volumes: tuple[MappedVolume, ...]
    read = ""
    if source == "halves":
        if not row.has_halves:
            raise InputError(
                f"row {row.index} has no even/odd halves ({HALF1_COLUMN}/2); use method "
                "isonet2 or run prepare_star with --even/--odd"
            )
        volumes = (
            _open_volume(row, HALF1_COLUMN, row.half1_path),
            _open_volume(row, HALF2_COLUMN, row.half2_path),
        )
        if volumes[0].shape != volumes[1].shape:
            raise InputError(
                f"{volumes[1].path}: shape {volumes[1].shape} differs from its even half "
                f"{volumes[0].path} {volumes[0].shape}; pair halves of the same tomogram"
            )
    else:
        if column is None:
            column = DECONV_COLUMN if row.path_in_column(DECONV_COLUMN) else TOMOGRAM_COLUMN
        read = column
        path = row.path_in_column(column)
        if path is None:
            raise InputError(
                f"row {row.index} has no {column}; fill that column (e.g. run the command that "
                "makes it) or choose another input column"
            )
        volumes = (_open_volume(row, column, path),)
    shape = volumes[0].shape
    if min(shape) < cube_size:
        raise InputError(
            f"{volumes[0].path}: shape {shape} is smaller than the {cube_size}³ training cube; "
            "use a smaller --cube_size"
        )
    mask = None
    if row.mask_path is not None:
        mask = _open_volume(row, MASK_COLUMN, row.mask_path)
        if mask.shape != shape:
            raise InputError(
                f"{mask.path}: mask shape {mask.shape} differs from the tomogram's {shape} "
                f"({volumes[0].path}); remake the mask with make_mask"
            )
    if row.number_subtomos < 1:
        raise InputError(
            f"row {row.index}: {NUMBER_COLUMN} is {row.number_subtomos}; set a positive count"
        )
    box, coordinates = None, None
    if row.box_file is not None:
        box = Path(row.box_file)
        if not box.is_file():
            raise missing_file(f"row {row.index}, column {BOX_COLUMN}", box)
        coordinates = fit_coordinates(read_box_file(box, shape), shape, cube_size, box)
    return Tomogram(
        index=row.index,
        name=volumes[0].path.stem,
        source=source,
        volumes=volumes,
        stats=tuple(_stats(volume) for volume in volumes),
        mask=mask,
        shape=shape,
        tilt_min_deg=row.tilt_min_deg,
        tilt_max_deg=row.tilt_max_deg,
        pixel_size_angstrom=row.pixel_size_angstrom,
        defocus_angstrom=row.defocus_angstrom,
        voltage_kv=row.voltage_kv,
        cs_mm=row.cs_mm,
        amplitude_contrast=row.amplitude_contrast,
        number_subtomos=row.number_subtomos,
        box_file=box,
        coordinates_zyx=coordinates,
        column=read,
    )


def _open_volume(row: TomogramRow, column: str, path_text: str | None) -> MappedVolume:
    path = Path(str(path_text))
    if not path.is_file():
        raise missing_file(f"row {row.index}, column {column}", path)
    return MappedVolume(path=path, shape=read_info(path).shape, column=column)


def _stats(volume: MappedVolume) -> tuple[float, float]:
    return usable_slab_stats(volume.data, volume.path)


def read_box_file(path: Path, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """Centres (n, 3) int64 (z, y, x) from a text file of `x y z` pixel coordinates per line.

    The file is read by `isonet2.io.coordinates.read_coordinates` (its errors); a point outside
    the tomogram of `shape_zyx` raises InputError too.
    """
    centres = []
    for number, (x, y, z) in read_coordinates(path):
        point = (round(z), round(y), round(x))
        if not all(0 <= p < n for p, n in zip(point, shape_zyx, strict=True)):
            size_xyz = "×".join(str(n) for n in reversed(shape_zyx))
            raise InputError(
                f"{path}:{number}: point x y z = {x:g} {y:g} {z:g} lies outside the tomogram "
                f"({size_xyz} x×y×z); coordinates must be pixels of this tomogram"
            )
        centres.append(point)
    return np.asarray(centres, dtype=np.int64)


def fit_coordinates(
    centres_zyx: np.ndarray, shape_zyx: tuple[int, int, int], cube_size: int, source: Path
) -> np.ndarray:
    """Move centres (n, 3) inward so each cube [c - cube//2, c - cube//2 + cube) fits the volume.

    Logs one warning per file when any centre had to move.
    """
    low = np.full(3, cube_size // 2, dtype=np.int64)
    high = np.asarray(shape_zyx, dtype=np.int64) - cube_size + cube_size // 2
    fitted = np.clip(centres_zyx, low, high)
    moved = int(np.any(fitted != centres_zyx, axis=1).sum())
    if moved:
        logger.warning(
            "%s: %d of %d coordinates lie closer than %d voxels to a face; moved inward so the "
            "%d³ cube fits",
            source,
            moved,
            len(centres_zyx),
            cube_size // 2,
            cube_size,
        )
    fitted.setflags(write=False)
    return fitted
