"""MRC volumes: memory-mapped reading, atomic writing, voxel size and origin kept.

Example:
    volume = open_volume("tomo.mrc")             # read-only memory map, (z, y, x)
    info = read_info("tomo.mrc")                  # shape, dtype, voxel size (Å) without data
    write_volume("out.mrc", array, voxel_size_angstrom=info.voxel_size_angstrom)
    with new_volume("big.mrc", (400, 1024, 1024), voxel_size_angstrom=10.0) as out:
        out[0:10] = ...                            # appears as big.mrc only when the block ends

A missing, truncated, corrupt or non-MRC file, a header with a dimension below 1, or complex
data (modes 3 and 4) raises InputError naming the file. A new volume reserves its whole size on
disk when it is made, so a full disk is an InputError then rather than a crash (SIGBUS) while
writing through the memory map.
"""

from __future__ import annotations

import errno
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
from mrcfile.utils import data_dtype_from_header, data_shape_from_header

from isonet2.errors import InputError
from isonet2.io.atomic import publish, temp_beside
from isonet2.io.pages import release_pages

MRC_SUFFIXES = (".mrc", ".rec", ".map")
logger = logging.getLogger(__name__)
_HEADER_BYTES = 1024
_COMPLEX_MODES = (3, 4)  # complex int16 and complex float32: Fourier transforms, not volumes
# errors of posix_fallocate that mean "this filesystem cannot reserve": write without reserving
_CANNOT_RESERVE = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}


@dataclass(frozen=True)
class VolumeInfo:
    """What the header says: shape (z, y, x), dtype, voxel size (x, y, z) in Å, origin."""

    path: Path
    shape: tuple[int, int, int]
    dtype: np.dtype
    voxel_size_angstrom: tuple[float, float, float]
    origin_angstrom: tuple[float, float, float]
    data_offset: int

    @property
    def pixel_size_angstrom(self) -> float:
        """The X voxel size, the number every isonet2 command calls the pixel size."""
        return self.voxel_size_angstrom[0]


_WARNED_LONGER: set[Path] = set()  # files longer than their header says, warned about once


def require_tomogram(info: VolumeInfo) -> VolumeInfo:
    """`info`, or an InputError when its volume is a 2D image (one voxel thick along an axis):
    the tomogram commands read such files without complaint and wrote flat "results"."""
    if 1 in info.shape:
        raise InputError(
            f"{info.path}: shape {info.shape} (z, y, x) is a 2D image, not a tomogram; give the "
            "reconstructed 3D volumes"
        )
    return info


def read_info(path: str | os.PathLike[str]) -> VolumeInfo:
    """Read and check an MRC header without touching the data."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(file, mode="r", header_only=True, permissive=False) as mrc:
                header = mrc.header
                _check_header(file, header)
                extended = int(header.nsymbt)
                dtype = data_dtype_from_header(header)
                shape = data_shape_from_header(header)
                voxel = mrc.voxel_size
                origin = header.origin
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{file}: not a readable MRC file ({error})") from None
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise InputError(f"{file}: expected a 3D volume, found shape {shape}")
    offset = _HEADER_BYTES + extended
    needed = offset + int(np.prod(shape)) * np.dtype(dtype).itemsize
    size = file.stat().st_size
    if size < needed:
        raise InputError(
            f"{file}: truncated MRC file ({size} bytes, the header promises {needed}); "
            "copy or reconstruct it again"
        )
    if size > needed and file.resolve() not in _WARNED_LONGER:
        _WARNED_LONGER.add(file.resolve())
        logger.warning(
            "%s: %d bytes beyond the data its header describes (shape %s, z y x): only those "
            "are read; if the header's dimensions are wrong, fix them (IMOD's alterheader)",
            file,
            size - needed,
            tuple(int(n) for n in shape),
        )
    return VolumeInfo(
        path=file,
        shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        dtype=np.dtype(dtype),
        voxel_size_angstrom=(float(voxel.x), float(voxel.y), float(voxel.z)),
        origin_angstrom=(float(origin.x), float(origin.y), float(origin.z)),
        data_offset=offset,
    )


def _check_header(file: Path, header: np.recarray) -> None:
    """InputError for a header whose dimensions or mode no volume can have."""
    sizes = (int(header.nx), int(header.ny), int(header.nz))
    if min(sizes) < 1:
        raise InputError(
            f"{file}: header dimensions nx={sizes[0]}, ny={sizes[1]}, nz={sizes[2]} are invalid; "
            "each must be at least 1, so the header is damaged: copy or reconstruct the file again"
        )
    axes = (int(header.mapc), int(header.mapr), int(header.maps))
    if axes not in ((1, 2, 3), (0, 0, 0)):  # 0: a writer that left the fields unset
        raise InputError(
            f"{file}: its axis order (mapc, mapr, maps) = {axes} is not X, Y, Z (1, 2, 3): read "
            "as stored, the beam axis would be wrong; reorder the volume to X, Y, Z (e.g. IMOD "
            "clip rotx, or resave it with mrcfile/numpy)"
        )
    mode = int(header.mode)
    if mode in _COMPLEX_MODES:
        raise InputError(
            f"{file}: MRC mode {mode} holds complex numbers, not a tomogram; give the real-space "
            "reconstruction (mode 0, 1, 2, 6 or 12)"
        )


def open_volume(path: str | os.PathLike[str]) -> np.ndarray:
    """The volume as a read-only memory map (z, y, x) in the file's dtype; nothing is loaded."""
    info = read_info(path)
    return np.memmap(
        info.path, dtype=info.dtype, mode="r", offset=info.data_offset, shape=info.shape
    )


def read_volume(path: str | os.PathLike[str]) -> np.ndarray:
    """The whole volume loaded as float32 (z, y, x); use open_volume for large files."""
    return np.asarray(open_volume(path), dtype=np.float32)


def _set_header(
    mrc: mrcfile.mrcfile.MrcFile,
    voxel_size_angstrom: float | tuple[float, float, float],
    origin_angstrom: tuple[float, float, float] | None,
) -> None:
    mrc.voxel_size = voxel_size_angstrom
    if origin_angstrom is not None:
        mrc.header.origin = origin_angstrom
    # mrcfile stamps the creation time into label 0; clear it so equal data give equal bytes
    mrc.header.label[:] = b""
    mrc.header.nlabl = 0


def write_volume(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    voxel_size_angstrom: float | tuple[float, float, float] = 1.0,
    origin_angstrom: tuple[float, float, float] | None = None,
) -> None:
    """Write (z, y, x) data atomically: a temp file in the same folder, then a rename."""
    write_volumes_together(
        {Path(path): data}, voxel_size_angstrom=voxel_size_angstrom, origin_angstrom=origin_angstrom
    )


def write_volumes_together(
    volumes: Mapping[Path, np.ndarray],
    *,
    voxel_size_angstrom: float | tuple[float, float, float] = 1.0,
    origin_angstrom: tuple[float, float, float] | None = None,
) -> None:
    """write_volume for files that belong together (a simulated tomogram's four maps): every
    temp file is written first and only then are they renamed, so a run stopped while
    writing leaves the old set, not old and new files mixed."""
    temps: dict[Path, Path] = {}
    try:
        for target, data in volumes.items():
            temps[target] = temp_beside(target, ".mrc.tmp")
            try:
                with mrcfile.new(temps[target], overwrite=True) as mrc:
                    mrc.set_data(np.ascontiguousarray(data))
                    _set_header(mrc, voxel_size_angstrom, origin_angstrom)
            except OSError as error:
                _raise_if_full(error, target, _HEADER_BYTES + np.asarray(data).nbytes)
                raise
        for target, temp in temps.items():
            publish(temp, target)
    except BaseException:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise


@contextmanager
def new_volume(
    path: str | os.PathLike[str],
    shape: tuple[int, int, int],
    *,
    dtype: type | np.dtype = np.float32,
    voxel_size_angstrom: float | tuple[float, float, float] = 1.0,
    origin_angstrom: tuple[float, float, float] | None = None,
) -> Iterator[np.ndarray]:
    """A writable memory-mapped volume that becomes `path` only if the block ends without error.

    Host memory stays bounded by what the caller touches; a failure (disk full, Ctrl-C)
    leaves any earlier file at `path` untouched and no temp file behind. The file's whole size
    is reserved on disk before the block runs, so a disk without room for it raises InputError
    here instead of killing the process (SIGBUS) while the block writes.
    """
    target = Path(path)
    temp = temp_beside(target, ".mrc.tmp")
    try:
        with _new_reserved_mmap(temp, target, shape, dtype) as mrc:
            _set_header(mrc, voxel_size_angstrom, origin_angstrom)
            yield mrc.data
            _set_stats_in_slabs(mrc)
        publish(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _new_reserved_mmap(
    temp: Path, target: Path, shape: tuple[int, int, int], dtype: type | np.dtype
) -> mrcfile.mrcmemmap.MrcMemmap:
    """mrcfile.new_mmap at `temp` with every byte of the file allocated on disk now.

    Stores through a memory map into a sparse file need disk blocks when they happen, and a
    full disk then kills the process with SIGBUS; posix_fallocate asks for them up front.
    """
    size = _HEADER_BYTES + int(np.prod(shape)) * np.dtype(dtype).itemsize
    try:
        mrc = mrcfile.new_mmap(temp, shape=shape, mrc_mode=_mode(dtype), overwrite=True)
    except OSError as error:
        _raise_if_full(error, target, size)
        raise
    try:
        _reserve(temp, target, size)
    except BaseException:
        with suppress(OSError):  # closing writes the header, which may fail on a full disk
            mrc.close()
        raise
    return mrc


def _reserve(temp: Path, target: Path, size: int) -> None:
    """Allocate `size` bytes of `temp` on disk; silently nothing where that is not supported."""
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows
        return
    handle = os.open(temp, os.O_RDWR)
    try:
        os.posix_fallocate(handle, 0, size)
    except OSError as error:
        if error.errno in _CANNOT_RESERVE:
            return
        _raise_if_full(error, target, size)
        raise
    finally:
        os.close(handle)


def _raise_if_full(error: OSError, target: Path, size: int) -> None:
    """InputError naming the folder when `error` says the disk (or the quota) is full."""
    if error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return
    reason = "no space left" if error.errno == errno.ENOSPC else "disk quota exceeded"
    raise InputError(
        f"{target.parent}: {reason} for {target.name} ({_human_size(size)}); free space or "
        "choose another output folder"
    ) from None


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _set_stats_in_slabs(mrc: mrcfile.mrcfile.MrcFile, slab: int = 16) -> None:
    """Header min/max/mean/rms computed slab by slab, so no full-size temporary is made."""
    data = mrc.data
    count = data.size
    low, high, total, squares = np.inf, -np.inf, 0.0, 0.0
    for start in range(0, data.shape[0], slab):
        block = data[start : start + slab]
        low, high = min(low, float(block.min())), max(high, float(block.max()))
        block_sum, block_squares = _sum_and_squares(block)
        total, squares = total + block_sum, squares + block_squares
        release_pages(block)  # a finished output is not kept resident
    mean = total / count
    mrc.header.dmin, mrc.header.dmax, mrc.header.dmean = low, high, mean
    mrc.header.rms = np.sqrt(max(squares / count - mean * mean, 0.0))


def _sum_and_squares(block: np.ndarray, chunk: int = 1 << 20) -> tuple[float, float]:
    """Sum and sum of squares of `block` in float64, converted a chunk at a time.

    About 5x faster than converting the whole block first (no 8-byte copy of it to write
    and read back), with the same float64 sums.
    """
    flat = block.reshape(-1)
    total, squares = 0.0, 0.0
    for start in range(0, flat.size, chunk):
        part = flat[start : start + chunk].astype(np.float64)
        total += float(part.sum())
        squares += float(np.dot(part, part))
    return total, squares


def _mode(dtype: type | np.dtype) -> int:
    modes = {np.dtype(np.int8): 0, np.dtype(np.int16): 1, np.dtype(np.float32): 2}
    try:
        return modes[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"unsupported MRC dtype {dtype}") from None


def list_volumes(folder: str | os.PathLike[str]) -> list[Path]:
    """The .mrc/.rec/.map files of a folder, sorted by name; none at all is an error."""
    directory = Path(folder)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such folder")
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in MRC_SUFFIXES
    )
    if not files:
        raise InputError(f"{directory}: no .mrc, .rec or .map files in this folder")
    return files
