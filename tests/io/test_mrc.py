"""MRC I/O: voxel size kept, atomic writes, clear errors for broken files."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

from isonet2.errors import InputError
from isonet2.io.mrc import (
    _sum_and_squares,
    list_volumes,
    new_volume,
    open_volume,
    read_info,
    read_volume,
    write_volume,
)


def test_write_read_keeps_data_voxel_size_and_origin(tmp_path: Path) -> None:
    data = np.arange(3 * 5 * 7, dtype=np.float32).reshape(3, 5, 7)
    path = tmp_path / "v.mrc"
    write_volume(path, data, voxel_size_angstrom=5.35, origin_angstrom=(1.0, 2.0, 3.0))
    info = read_info(path)
    assert info.shape == (3, 5, 7) and info.pixel_size_angstrom == pytest.approx(5.35)
    assert info.origin_angstrom == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(read_volume(path), data)
    assert isinstance(open_volume(path), np.memmap)


def test_new_volume_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "out.mrc"
    write_volume(path, np.ones((2, 4, 4), np.float32))
    with pytest.raises(OSError), new_volume(path, (2, 4, 4), voxel_size_angstrom=2.0) as out:
        out[0] = 7.0
        raise OSError("No space left on device")
    np.testing.assert_array_equal(read_volume(path), 1.0)  # the earlier file survives
    assert [p.name for p in tmp_path.iterdir()] == ["out.mrc"]
    with new_volume(path, (2, 4, 4), voxel_size_angstrom=2.0) as out:
        out[:] = 3.0
    assert read_info(path).pixel_size_angstrom == 2.0
    np.testing.assert_array_equal(read_volume(path), 3.0)


def test_corrupt_truncated_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(b"not an mrc file at all" * 100)
    with pytest.raises(InputError, match=r"junk\.mrc: not a readable MRC file"):
        read_info(junk)
    good = tmp_path / "good.mrc"
    write_volume(good, np.zeros((4, 8, 8), np.float32))
    cut = tmp_path / "cut.mrc"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"cut\.mrc: truncated MRC file"):
        open_volume(cut)
    with pytest.raises(InputError, match="no such file"):
        read_info(tmp_path / "none.mrc")


def test_list_volumes_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.rec", "a.mrc", "c.map", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_volumes(tmp_path)] == ["a.mrc", "b.rec", "c.map"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no \.mrc, \.rec or \.map files"):
        list_volumes(empty)


def test_new_volume_header_statistics_match_the_data(tmp_path: Path) -> None:
    """min, max, mean and rms (the standard deviation) over slabs that do not divide Z."""
    data = (np.random.default_rng(0).standard_normal((37, 20, 30)) * 3 + 100).astype(np.float32)
    with new_volume(tmp_path / "s.mrc", data.shape) as out:
        out[:] = data
    with mrcfile.open(tmp_path / "s.mrc", permissive=True) as mrc:
        header = mrc.header
        wide = data.astype(np.float64)
        assert float(header.dmin) == data.min() and float(header.dmax) == data.max()
        assert float(header.dmean) == pytest.approx(wide.mean(), rel=1e-6)
        assert float(header.rms) == pytest.approx(wide.std(), rel=1e-5)


def test_chunked_sums_equal_whole_float64_sums() -> None:
    block = np.random.default_rng(1).standard_normal((5, 7, 11)).astype(np.float32) + 2
    total, squares = _sum_and_squares(block, chunk=13)  # chunks end mid-row
    wide = block.astype(np.float64)
    assert total == pytest.approx(wide.sum(), rel=1e-12)
    assert squares == pytest.approx(np.square(wide).sum(), rel=1e-12)
