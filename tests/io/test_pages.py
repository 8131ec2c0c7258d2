"""Releasing the pages of finished memory-mapped slabs keeps every value and frees memory."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np
import pytest

from isonet2.io.pages import is_memory_mapped, release_pages, return_freed_memory_promptly

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise, /proc")


def resident_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@linux_only
def test_written_slabs_leave_resident_memory_and_keep_their_values(tmp_path: Path) -> None:
    path = tmp_path / "map.bin"
    shape = (64, 256, 256)  # 16 MiB of float32
    out = np.memmap(path, dtype=np.float32, mode="w+", shape=shape)
    expected = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    before = resident_mib()
    out[:] = expected
    assert resident_mib() - before > 12  # the written pages are this process's memory...
    assert release_pages(out[:])
    assert resident_mib() - before < 4  # ...until released
    np.testing.assert_array_equal(out, expected)  # read back through the map
    del out
    np.testing.assert_array_equal(np.fromfile(path, dtype=np.float32).reshape(shape), expected)


@linux_only
def test_a_slab_releases_only_its_own_whole_pages(tmp_path: Path) -> None:
    volume = np.memmap(tmp_path / "v.bin", dtype=np.float32, mode="w+", shape=(8, 100, 100))
    volume[:] = 1.0
    assert release_pages(volume[2:5])
    np.testing.assert_array_equal(volume[1:6], 1.0)  # neighbours and the slab itself intact


def test_arrays_that_are_not_memory_maps_are_left_alone(tmp_path: Path) -> None:
    plain = np.ones((4, 64, 64), dtype=np.float32)
    assert not is_memory_mapped(plain) and not release_pages(plain)
    mapped = np.memmap(tmp_path / "m.bin", dtype=np.float32, mode="w+", shape=(4, 64, 64))
    assert is_memory_mapped(mapped[1:3])
    assert not release_pages(mapped[:, ::2])  # not contiguous
    assert not release_pages(mapped[:0])  # empty


@linux_only
def test_read_only_maps_release_and_copy_on_write_maps_keep_their_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.bin"
    np.memmap(path, dtype=np.float32, mode="w+", shape=(4, 256, 256))[:] = 2.0
    reader = np.memmap(path, dtype=np.float32, mode="r", shape=(4, 256, 256))
    assert float(reader.sum()) == 2.0 * reader.size and release_pages(reader[1:3])
    private = np.memmap(path, dtype=np.float32, mode="c", shape=(4, 256, 256))
    private[:] = 5.0  # changes that exist only in this process's pages
    assert not is_memory_mapped(private) and not release_pages(private)
    np.testing.assert_array_equal(private, 5.0)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's mallopt",
)
def test_glibc_is_told_to_return_large_freed_blocks_at_once() -> None:
    assert return_freed_memory_promptly() is True
