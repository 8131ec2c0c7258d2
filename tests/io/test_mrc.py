"""MRC I/O: voxel size kept, atomic writes, clear errors for broken files."""

from __future__ import annotations

import errno
import os
import struct
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
    write_volumes_together,
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


def test_a_file_longer_than_its_header_says_is_read_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8)
    long = tmp_path / "long.mrc"
    write_volume(long, data)
    with long.open("ab") as file:  # e.g. a header whose nz is smaller than the data
        file.write(b"\0" * 256)
    np.testing.assert_array_equal(read_volume(long), data)
    assert read_info(long).shape == (4, 8, 8)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, warned  # once per file, however often it is opened
    assert "long.mrc: 256 bytes beyond the data its header describes (shape (4, 8, 8)" in warned[0]


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


def _with_header_int(source: Path, target: Path, word: int, value: int) -> None:
    """Copy `source` to `target` with the header's 4-byte word number `word` set to `value`."""
    data = bytearray(source.read_bytes())
    data[4 * word : 4 * word + 4] = struct.pack("<i", value)
    target.write_bytes(bytes(data))


@pytest.mark.parametrize(("word", "value"), [(0, -5), (1, 0), (2, -1)])
def test_header_dimensions_below_one_refused(tmp_path: Path, word: int, value: int) -> None:
    good = tmp_path / "good.mrc"
    write_volume(good, np.zeros((4, 4, 4), np.float32))
    bad = tmp_path / "bad.mrc"
    _with_header_int(good, bad, word, value)  # words 0, 1, 2: nx, ny, nz
    with pytest.raises(InputError, match=r"bad\.mrc: header dimensions .* are invalid") as info:
        open_volume(bad)
    assert f"={value}" in str(info.value) and "\n" not in str(info.value)


def test_an_axis_order_other_than_xyz_is_refused_and_unset_fields_pass(tmp_path: Path) -> None:
    """A file stored Z, Y, X (mapc 3, maps 1) was read as X, Y, Z: the beam axis wrong."""
    good = tmp_path / "good.mrc"
    write_volume(good, np.zeros((4, 5, 6), np.float32))
    swapped = tmp_path / "zyx.mrc"
    _with_header_int(good, swapped, 16, 3)  # words 16, 17, 18: mapc, mapr, maps
    _with_header_int(swapped, swapped, 18, 1)
    with pytest.raises(InputError, match=r"zyx\.mrc: its axis order \(mapc, mapr, maps\) = "):
        read_info(swapped)
    unset = tmp_path / "unset.mrc"
    _with_header_int(good, unset, 16, 0)
    _with_header_int(unset, unset, 17, 0)
    _with_header_int(unset, unset, 18, 0)
    assert read_info(unset).shape == read_info(good).shape == (4, 5, 6)


@pytest.mark.parametrize("mode", [3, 4])
def test_complex_modes_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "fft.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((4, 4, 4), np.complex64))
    _with_header_int(path, path, 3, mode)  # word 3: mode (mode 3 data are half as long)
    with pytest.raises(InputError, match=rf"fft\.mrc: MRC mode {mode} holds complex numbers"):
        read_info(path)


def _fallocate_failing(code: int) -> object:
    def fallocate(fd: int, offset: int, length: int) -> None:
        raise OSError(code, os.strerror(code))

    return fallocate


def test_new_volume_on_a_full_disk_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.mrc"
    write_volume(path, np.ones((2, 4, 4), np.float32))
    monkeypatch.setattr(os, "posix_fallocate", _fallocate_failing(errno.ENOSPC))
    entered = False
    with pytest.raises(InputError) as info, new_volume(path, (4, 500, 500)):
        entered = True
    assert not entered  # refused before the caller writes through the map (SIGBUS)
    assert str(info.value) == (
        f"{tmp_path}: no space left for out.mrc (4.0 MB); free space or choose another "
        "output folder"
    )
    np.testing.assert_array_equal(read_volume(path), 1.0)  # the earlier file survives
    assert [p.name for p in tmp_path.iterdir()] == ["out.mrc"]  # and no temp file


def test_new_volume_writes_where_reserving_is_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "posix_fallocate", _fallocate_failing(errno.EOPNOTSUPP))
    with new_volume(tmp_path / "out.mrc", (2, 4, 4)) as out:
        out[:] = 5.0
    np.testing.assert_array_equal(read_volume(tmp_path / "out.mrc"), 5.0)


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate")
def test_new_volume_reserves_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.posix_fallocate

    def spy(fd: int, offset: int, length: int) -> None:
        calls.append(length)
        real(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", spy)
    with new_volume(tmp_path / "out.mrc", (3, 5, 7)) as out:
        out[:] = 1.0
    assert calls == [1024 + 3 * 5 * 7 * 4] == [(tmp_path / "out.mrc").stat().st_size]


def test_volumes_written_together_all_change_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop while a simulated tomogram's maps were written left new and old maps mixed."""
    targets = [tmp_path / f"{name}.mrc" for name in ("a", "b", "c")]
    for target in targets:
        write_volume(target, np.zeros((2, 3, 4), np.float32))
    real_new = mrcfile.new

    def third_fails(path: object, *args: object, **kwargs: object) -> object:
        if str(path).startswith(str(tmp_path / ".c.mrc")):
            raise KeyboardInterrupt
        return real_new(path, *args, **kwargs)

    monkeypatch.setattr(mrcfile, "new", third_fails)
    with pytest.raises(KeyboardInterrupt):
        write_volumes_together({t: np.ones((2, 3, 4), np.float32) for t in targets})
    assert all(read_volume(t).max() == 0 for t in targets)  # none replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mrc", "b.mrc", "c.mrc"]
    monkeypatch.setattr(mrcfile, "new", real_new)
    write_volumes_together({t: np.ones((2, 3, 4), np.float32) for t in targets})
    assert all(read_volume(t).min() == 1 for t in targets)
