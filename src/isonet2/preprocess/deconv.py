"""Wiener-filter CTF deconvolution of a tomogram, whole or in overlapping chunks (ALGORITHM §2).

Example:
    volume = open_volume("tomo.mrc")                                  # (z, y, x) memory map
    with new_volume("tomo_deconv.mrc", volume.shape, voxel_size_angstrom=10.0) as out:
        deconvolve(volume, out=out, pixel_size_angstrom=10.0, defocus_angstrom=30000.0,
                   voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.1, snrfalloff=1.0,
                   deconvstrength=1.0, highpassnyquist=0.02, chunk_size=256)

Whole-volume mode is ``irfftn(rfftn(v) * W)`` with W = CTF / (CTF² + 1/SNR) on the rfft grid,
computed axis by axis in slabs (2D rfft of Z slabs, the Z transform and W in Y slabs, 2D inverse
of Z slabs), so the only full-size buffer is the complex half-spectrum (about the tomogram's
bytes). Chunked mode filters cubes of ``chunk_size`` that overlap by ``overlap_rate``; each is
padded on every side by the overlap width with its real surroundings (the volume is read as
periodic past its faces, as the whole-volume FFT sees it), filtered with W of the padded shape,
cropped and blended with cos² weights that sum to one; an axis no longer than the padded chunk is
not split (so a volume that fits one chunk gets exactly the whole-volume filter). A chunk's zero
frequency stands for every scale longer than the chunk, so it takes W at half the chunk's lowest
frequency rather than W(0) ≈ 0, which keeps chunk means from being flattened. Either way the
result is rescaled to the input's mean and standard deviation (float64 sums over slabs).
Memory-mapped inputs and outputs are read and written slab by slab and their pages handed back
to the kernel as the work moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import product

import numpy as np
import torch

from isonet2.errors import InputError
from isonet2.fourier.ctf import wiener_1d
from isonet2.fourier.grids import frequency_indices
from isonet2.io.pages import release_pages
from isonet2.preprocess.finite import constant_volume_error, require_finite
from isonet2.preprocess.normalize import streamed_mean_std

logger = logging.getLogger(__name__)

SLAB_BYTES = 32 * 2**20  # size of one slab of a streamed pass
_FILTER_BYTES_PER_VALUE = 32  # float64 temporaries while building a filter, per value


def _slabs(length: int, bytes_per_row: int) -> Iterator[tuple[int, int]]:
    step = max(1, SLAB_BYTES // max(bytes_per_row, 1))
    for start in range(0, length, step):
        yield start, min(start + step, length)


def mean_std(volume: np.ndarray) -> tuple[float, float]:
    """Mean and population standard deviation of a (z, y, x) volume, in float64 over Z slabs.

    A NaN or infinite voxel is an InputError naming it (see `finite.require_finite`).
    """

    def blocks() -> Iterator[np.ndarray]:
        for lo, hi in _slabs(volume.shape[0], volume[0].size * 8):
            slab = np.asarray(volume[lo:hi], dtype=np.float64)
            require_finite(slab, volume, (lo, 0, 0))
            yield slab
            release_pages(volume)

    return streamed_mean_std(blocks())


@dataclass(frozen=True)
class _Wiener:
    """The physics of one tomogram's Wiener filter (units in the names)."""

    pixel_size_angstrom: float
    defocus_angstrom: float
    voltage_kv: float
    cs_mm: float
    amplitude_contrast: float
    snrfalloff: float
    deconvstrength: float
    highpassnyquist: float
    phase_flipped: bool

    def response(self, s_per_angstrom: torch.Tensor) -> torch.Tensor:
        """W at spatial frequencies s (1/Å, at most Nyquist), same dtype as s."""
        return wiener_1d(
            s_per_angstrom,
            self.pixel_size_angstrom,
            self.defocus_angstrom,
            self.voltage_kv,
            self.cs_mm,
            self.amplitude_contrast,
            self.snrfalloff,
            self.deconvstrength,
            self.highpassnyquist,
            phase_flipped=self.phase_flipped,
        )

    def rfft_filter(
        self, shape: tuple[int, ...], axis: int = 0, lo: int = 0, hi: int | None = None
    ) -> torch.Tensor:
        """float32 W on the rfft grid of real ``shape`` (z, y, x), indices lo:hi of ``axis``."""
        indices = frequency_indices(shape, rfft=True)
        stop = indices[axis].shape[axis] if hi is None else hi
        indices[axis] = indices[axis].narrow(axis, lo, stop - lo)
        radius_sq = torch.zeros((), dtype=torch.float64)
        for index, n in zip(indices, shape, strict=True):
            radius_sq = radius_sq + (index.to(torch.float64) / n) ** 2
        s = radius_sq.sqrt().clamp(max=0.5) / self.pixel_size_angstrom
        return self.response(s).to(torch.float32)

    def chunk_filter(self, shape: tuple[int, int, int]) -> torch.Tensor:
        """W of a chunk, its zero frequency set to W at half the chunk's lowest frequency."""
        nz, ny, nx = shape
        fourier_filter = torch.empty((nz, ny, nx // 2 + 1), dtype=torch.float32)
        for lo, hi in _slabs(nz, ny * (nx // 2 + 1) * _FILTER_BYTES_PER_VALUE):
            fourier_filter[lo:hi] = self.rfft_filter(shape, axis=0, lo=lo, hi=hi)
        lowest = torch.tensor([0.5 / max(shape) / self.pixel_size_angstrom], dtype=torch.float64)
        fourier_filter[0, 0, 0] = float(self.response(lowest)[0])
        return fourier_filter


@dataclass(frozen=True)
class _AxisChunks:
    """Chunks along one axis: padded length, padding before the core, core starts and weights."""

    block: int
    pad: int
    core: int
    starts: list[int]
    weights: list[np.ndarray]

    @classmethod
    def plan(cls, length: int, chunk_size: int, overlap_rate: float) -> _AxisChunks:
        overlap = round(overlap_rate * chunk_size)
        pad = overlap
        if length <= chunk_size + 2 * pad:  # one chunk spans the axis: exactly the whole FFT
            return cls(length, 0, length, [0], [np.ones(length, dtype=np.float32)])
        stride = max(1, chunk_size - overlap)
        starts = [*range(0, length - chunk_size, stride), length - chunk_size]
        window = np.ones(chunk_size)
        if overlap:
            taper = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
            window[:overlap], window[chunk_size - overlap :] = taper, taper[::-1]
        total = np.zeros(length)
        for start in starts:
            total[start : start + chunk_size] += window
        weights = [
            (window / total[start : start + chunk_size]).astype(np.float32) for start in starts
        ]
        return cls(chunk_size + 2 * pad, pad, chunk_size, starts, weights)


def _periodic_runs(start: int, size: int, length: int) -> list[tuple[slice, slice]]:
    """(source, destination) slices that read ``size`` samples from ``start`` of a periodic axis."""
    runs, done = [], 0
    while done < size:
        source = (start + done) % length
        count = min(size - done, length - source)
        runs.append((slice(source, source + count), slice(done, done + count)))
        done += count
    return runs


def _read_periodic(
    volume: np.ndarray, starts: tuple[int, ...], shape: tuple[int, ...]
) -> np.ndarray:
    """A float32 block of ``shape`` at ``starts`` (z, y, x), the volume read as periodic.

    Z planes are read a slab at a time and their mapped pages dropped after each slab, because
    touching part of a plane of a memory map can map all of it (large page-cache folios).
    """
    block = np.empty(shape, dtype=np.float32)
    z_runs, y_runs, x_runs = (
        _periodic_runs(start, size, length)
        for start, size, length in zip(starts, shape, volume.shape, strict=True)
    )
    for source, target in z_runs:
        for lo, hi in _slabs(source.stop - source.start, volume[0].nbytes):
            planes = slice(source.start + lo, source.start + hi)
            into = slice(target.start + lo, target.start + hi)
            for (sy, dy), (sx, dx) in product(y_runs, x_runs):
                block[into, dy, dx] = volume[planes, sy, sx]
            release_pages(volume)
    return block


def _accumulate(out: np.ndarray, corner: tuple[int, int, int], values: np.ndarray) -> None:
    """out[corner : corner + values.shape] += values, a slab of Z planes at a time."""
    z0, y0, x0 = corner
    _, ny, nx = values.shape
    for lo, hi in _slabs(values.shape[0], out[0].nbytes):
        out[z0 + lo : z0 + hi, y0 : y0 + ny, x0 : x0 + nx] += values[lo:hi]
        release_pages(out)


def _multiply(spectrum: torch.Tensor, fourier_filter: torch.Tensor) -> None:
    """spectrum *= fourier_filter in place, without a complex copy of the filter."""
    torch.view_as_real(spectrum).mul_(fourier_filter.unsqueeze(-1))


def _filter_whole(volume: np.ndarray, out: np.ndarray, wiener: _Wiener) -> None:
    nz, ny, nx = volume.shape
    half = nx // 2 + 1
    spectrum = torch.empty((nz, ny, half), dtype=torch.complex64)
    for lo, hi in _slabs(nz, ny * nx * 4):
        plane = torch.from_numpy(np.array(volume[lo:hi], dtype=np.float32))
        spectrum[lo:hi] = torch.fft.rfft2(plane)
        release_pages(volume)
    for lo, hi in _slabs(ny, nz * half * _FILTER_BYTES_PER_VALUE):
        column = torch.fft.fft(spectrum[:, lo:hi], dim=0)
        _multiply(column, wiener.rfft_filter((nz, ny, nx), axis=1, lo=lo, hi=hi))
        spectrum[:, lo:hi] = torch.fft.ifft(column, dim=0)
    for lo, hi in _slabs(nz, ny * half * 8):
        out[lo:hi] = torch.fft.irfft2(spectrum[lo:hi], s=(ny, nx)).numpy()
        release_pages(out)


def _filter_chunks(
    volume: np.ndarray, out: np.ndarray, wiener: _Wiener, chunk_size: int, overlap_rate: float
) -> None:
    plans = [_AxisChunks.plan(n, chunk_size, overlap_rate) for n in volume.shape]
    block_shape = tuple(plan.block for plan in plans)
    fourier_filter = wiener.chunk_filter((block_shape[0], block_shape[1], block_shape[2]))
    crop = tuple(slice(plan.pad, plan.pad + plan.core) for plan in plans)
    for lo, hi in _slabs(out.shape[0], out[0].size * out.itemsize):
        out[lo:hi] = 0
        release_pages(out)
    pz, py, px = plans
    logger.debug(
        "deconv in %d chunks of %s", len(pz.starts) * len(py.starts) * len(px.starts), block_shape
    )
    for z0, wz in zip(pz.starts, pz.weights, strict=True):
        for (y0, wy), (x0, wx) in product(
            zip(py.starts, py.weights, strict=True), zip(px.starts, px.weights, strict=True)
        ):
            origin = (z0 - pz.pad, y0 - py.pad, x0 - px.pad)
            spectrum = torch.fft.rfftn(
                torch.from_numpy(_read_periodic(volume, origin, block_shape))
            )
            _multiply(spectrum, fourier_filter)
            filtered = torch.fft.irfftn(spectrum, s=block_shape)[crop].numpy()
            del spectrum
            filtered *= wz[:, None, None]
            filtered *= wy[None, :, None]
            filtered *= wx
            _accumulate(out, (z0, y0, x0), filtered)


def _rescale(out: np.ndarray, mean: float, std: float) -> None:
    """Affinely map ``out`` in place to the given mean and standard deviation, slab by slab."""
    raw_mean, raw_std = mean_std(out)
    scale = std / raw_std if raw_std > 0 else 0.0
    for lo, hi in _slabs(out.shape[0], out[0].size * 8):
        out[lo:hi] = (np.asarray(out[lo:hi], dtype=np.float64) - raw_mean) * scale + mean
        release_pages(out)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def deconvolve(
    volume: np.ndarray,
    *,
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
    snrfalloff: float,
    deconvstrength: float,
    highpassnyquist: float,
    phase_flipped: bool = False,
    chunk_size: int | None = None,
    overlap_rate: float = 0.25,
    threads: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Wiener-deconvolve a (z, y, x) volume, rescaled to its own mean and standard deviation.

    Args:
        volume: (z, y, x) array of any real dtype, typically a read-only memory map.
        pixel_size_angstrom, defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast: optics;
            defocus 0 means no CTF: the volume is copied unchanged (with a warning).
        snrfalloff, deconvstrength, highpassnyquist: the SNR model of ALGORITHM §2.
        phase_flipped: the volume is already multiplied by sign(CTF); deconvolve with |CTF|.
        chunk_size: None filters the whole volume at once (peak memory about the volume's
            bytes plus its complex half-spectrum); else overlapping cubes of this edge.
        overlap_rate: fraction of ``chunk_size`` shared by neighbouring chunks, in [0, 0.5].
        threads: torch CPU threads for this call (restored afterwards); None keeps the setting.
        out: float32 (z, y, x) array to write into, e.g. a ``new_volume`` memory map; a new
            array when None.

    Returns:
        ``out``, float32 (z, y, x).
    """
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InputError(f"deconv needs a (z, y, x) volume, got shape {volume.shape}")
    if not (pixel_size_angstrom > 0 and highpassnyquist > 0):
        raise InputError(
            f"pixel size ({pixel_size_angstrom} Å) and highpassnyquist ({highpassnyquist}) "
            "must be positive"
        )
    if (chunk_size is not None and chunk_size < 1) or not 0 <= overlap_rate <= 0.5:
        raise InputError(
            f"chunk_size must be >= 1 (got {chunk_size}), overlap_rate in [0, 0.5] (got "
            f"{overlap_rate})"
        )
    if out is None:
        out = np.empty(volume.shape, dtype=np.float32)
    if out.shape != volume.shape:
        raise ValueError(f"out has shape {out.shape}, the volume {volume.shape}")
    if defocus_angstrom == 0:
        logger.warning("defocus is 0: no CTF to deconvolve, the volume is copied unchanged")
        for lo, hi in _slabs(volume.shape[0], volume[0].size * 4):
            slab = np.asarray(volume[lo:hi])
            require_finite(slab, volume, (lo, 0, 0))  # as the filtering path's mean_std does
            out[lo:hi] = slab
            release_pages(out)
            release_pages(volume)
        return out
    wiener = _Wiener(
        pixel_size_angstrom,
        defocus_angstrom,
        voltage_kv,
        cs_mm,
        amplitude_contrast,
        snrfalloff,
        deconvstrength,
        highpassnyquist,
        phase_flipped,
    )
    with _torch_threads(threads):
        mean, std = mean_std(volume)
        if not std > 0:  # its deconvolution is the same constant: say so instead of writing it
            raise constant_volume_error(volume, mean)
        if chunk_size is None:
            _filter_whole(volume, out, wiener)
        else:
            _filter_chunks(volume, out, wiener, chunk_size, overlap_rate)
        _rescale(out, mean, std)
    return out
