"""Give the pages of finished slabs of memory-mapped volumes back to the system.

Example:
    out[z0:z1] = slab
    release_pages(out[z0:z1])     # written: kept in the page cache, reaches the file as usual
    release_pages(volume[:z0])    # read: read again from the file if ever touched again

Every page of a memory-mapped file that a process touches counts in its resident memory
until it is unmapped, so streaming a tomogram through `predict`, `deconv` or `make_mask` would
show the whole input and the whole output as the process's own memory. madvise(MADV_DONTNEED)
on a finished range drops those pages from this process. For a shared file mapping the kernel
keeps written data (the page's dirty state moves to the page cache and is written back later),
so nothing is lost. A copy-on-write map (numpy mode "c") would lose its changes and is left
alone, as is anything that is not a memory map, a non-contiguous view, or a system without
MADV_DONTNEED.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from contextlib import suppress

import numpy as np

M_MMAP_THRESHOLD = -3  # glibc's mallopt option (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def _mapping_of(array: np.ndarray) -> mmap.mmap | None:
    """The shared file mapping under `array` (a view of an np.memmap), or None."""
    base: object = array
    while base is not None:
        if isinstance(base, np.memmap):
            mapping = getattr(base, "_mmap", None)
            if mapping is not None:
                return mapping if base.mode != "c" else None
        if isinstance(base, mmap.mmap):
            return None  # its access mode cannot be told: it may be copy-on-write
        base = getattr(base, "base", None)
    return None


def is_memory_mapped(array: np.ndarray) -> bool:
    """Whether `array` is (a view of) a shared, memory-mapped file whose pages can be released."""
    return _mapping_of(array) is not None


def release_pages(array: np.ndarray) -> bool:
    """Drop the whole pages of `array` (a C-contiguous view of an np.memmap) from this process.

    Returns True when pages were released. Pages only partly inside `array` stay, so slabs
    next to it are not touched.
    """
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or array.size == 0 or not array.flags.c_contiguous:
        return False
    mapping = _mapping_of(array)
    if mapping is None or mapping.closed:
        return False
    origin = np.frombuffer(mapping, dtype=np.uint8).ctypes.data  # where the mapping begins
    begin = array.ctypes.data - origin
    page = mmap.PAGESIZE
    start = -(-begin // page) * page
    stop = (begin + array.nbytes) // page * page
    if stop <= start:
        return False
    mapping.madvise(advice, start, stop - start)
    return True


def return_freed_memory_promptly() -> bool:
    """Have glibc hand blocks of 128 KiB or more back to the system as soon as they are freed.

    glibc raises its threshold for that to the largest block freed so far (up to 32 MiB), so
    a stream of tile-sized tensors (3.5 MiB per 96³ float32 tile) ends up kept in its heaps
    once freed: about 180 MB more resident memory in a CPU predict of 200×1000×1000. Fixing
    the threshold keeps the working set what the work needs. No effect off glibc (Linux).
    Returns whether the threshold was set.
    """
    if not sys.platform.startswith("linux"):
        return False
    with suppress(OSError, AttributeError):  # another C library: nothing to tune
        return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return False
