"""Give the pages of finished slabs of memory-mapped volumes back to the system (Linux).

Example:
    out[z0:z1] = slab
    release_pages(out[z0:z1])     # written: kept in the page cache, reaches the file as usual
    release_pages(volume[:z0])    # read: read again from the file if ever touched again

Every page of a memory-mapped file that a process touches counts in its resident memory
until it is unmapped, so streaming a tomogram through `predict` would show the whole input
and the whole output as the process's own memory. madvise(MADV_DONTNEED) on a finished range
drops those pages from this process. For a shared file mapping the kernel keeps written data
(the page's dirty state moves to the page cache and is written back later), so nothing is
lost. Anything else (another system, an array that is not a memory map, a non-contiguous
view) is left as it is.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import sys
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)

_MADV_DONTNEED = 4  # Linux


def _madvise() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_MADVISE = _madvise()


def is_memory_mapped(array: np.ndarray) -> bool:
    """Whether `array` is (a view of) a memory-mapped file."""
    base: object = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def release_pages(array: np.ndarray) -> bool:
    """Drop the whole pages of `array` (a C-contiguous view of a memory map) from this process.

    Returns True when pages were released. Pages only partly inside `array` stay, so slabs
    next to it are not touched.
    """
    if _MADVISE is None or array.size == 0 or not array.flags.c_contiguous:
        return False
    if not is_memory_mapped(array):
        return False
    page = mmap.PAGESIZE
    address = array.ctypes.data
    start = -(-address // page) * page
    stop = (address + array.nbytes) // page * page
    if stop <= start:
        return False
    if _MADVISE(ctypes.c_void_p(start), stop - start, _MADV_DONTNEED) != 0:
        logger.debug("madvise failed: errno %d", ctypes.get_errno())
        return False
    return True
