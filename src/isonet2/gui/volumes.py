"""Slices of MRC volumes as greyscale PNG images, and a contrast range for each volume.

Example:
    volume = open_volume("tomograms/TS_01.mrc")          # memory map, (z, y, x)
    lo, hi = contrast_range(volume)                      # 0.5 and 99.5 percentiles
    png = slice_png(volume, axis="z", index=10, lo=lo, hi=hi)

Axis z gives the XY plane (rows y, columns x), y the XZ plane (rows z, columns x), x the YZ
plane (rows z, columns y). Only the asked-for slice is read from the file.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

AXES = ("z", "y", "x")
SAMPLE_VOXELS = 1 << 20
PERCENTILES = (0.5, 99.5)


def contrast_range(volume: np.ndarray) -> tuple[float, float]:
    """The 0.5 and 99.5 percentiles of an evenly strided subsample (about 1 M voxels)."""
    step = max(1, round((volume.size / SAMPLE_VOXELS) ** (1 / 3)))
    sample = np.asarray(volume[::step, ::step, ::step], dtype=np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(sample, PERCENTILES)
    if not hi > lo:  # a constant volume (an empty mask): /api/slice.png needs lo < hi
        hi = lo + 1.0
    return float(lo), float(hi)


def take_slice(volume: np.ndarray, axis: str, index: int) -> np.ndarray:
    """One plane of a (z, y, x) volume as float32; IndexError for a bad axis or index."""
    if axis not in AXES:
        raise IndexError(f"axis must be one of {', '.join(AXES)}, not {axis!r}")
    position = AXES.index(axis)
    size = volume.shape[position]
    if not 0 <= index < size:
        raise IndexError(f"index {index} is outside 0..{size - 1} along {axis}")
    return np.asarray(np.take(volume, index, axis=position), dtype=np.float32)


def to_uint8(plane: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly to 0..255, clipping outside (NaN -> 0)."""
    span = hi - lo if hi > lo else 1.0
    scaled = np.nan_to_num((plane - lo) / span * 255.0, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_png(image: np.ndarray) -> bytes:
    """A 2D uint8 array as an 8-bit greyscale PNG file."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("encode_png takes a 2D uint8 array")
    height, width = image.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) per row
    rows[:, 1:] = image
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
            _chunk(b"IEND", b""),
        ]
    )


def slice_png(volume: np.ndarray, axis: str, index: int, lo: float, hi: float) -> bytes:
    """One slice of a volume, contrast [lo, hi], as PNG bytes."""
    return encode_png(to_uint8(take_slice(volume, axis, index), lo, hi))
