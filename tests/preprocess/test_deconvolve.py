"""Wiener deconvolution: the whole-volume filter, chunked agreement, statistics and pass-through."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from isonet2.errors import InputError
from isonet2.fourier.ctf import wiener_1d, wiener_filter_3d
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.io.mrc import new_volume, open_volume, read_volume, write_volume
from isonet2.preprocess.deconv import _AxisChunks, _Wiener, deconvolve, mean_std

OPTICS = {
    "pixel_size_angstrom": 10.0,
    "defocus_angstrom": 30000.0,
    "voltage_kv": 300.0,
    "cs_mm": 2.7,
    "amplitude_contrast": 0.1,
    "snrfalloff": 1.0,
    "deconvstrength": 1.0,
    "highpassnyquist": 0.02,
}


def noise(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 3.0 + 5.0).astype(np.float32)


def relative_error(result: np.ndarray, reference: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    return float(np.linalg.norm(result - reference) / np.linalg.norm(reference - reference.mean()))


@pytest.mark.parametrize("phase_flipped", [False, True])
def test_whole_volume_is_the_wiener_filter_rescaled(phase_flipped: bool) -> None:
    volume = noise((9, 14, 17))
    result = deconvolve(volume, phase_flipped=phase_flipped, **OPTICS)
    wiener = wiener_filter_3d(
        volume.shape, *OPTICS.values(), phase_flipped=phase_flipped, rfft=True
    )
    filtered = apply_fourier_filter(torch.from_numpy(volume), wiener).numpy().astype(np.float64)
    expected = (filtered - filtered.mean()) / filtered.std() * volume.std() + volume.mean()
    assert result.dtype == np.float32 and result.shape == volume.shape
    np.testing.assert_allclose(result, expected, atol=2e-5 * volume.std())


@pytest.mark.parametrize(("overlap_rate", "tolerance"), [(0.25, 1e-2), (0.45, 3e-3)])
def test_chunks_agree_with_the_whole_volume_seams_included(
    overlap_rate: float, tolerance: float
) -> None:
    volume = noise((37, 70, 83), seed=1)
    whole = deconvolve(volume, **OPTICS)
    chunked = deconvolve(volume, chunk_size=32, overlap_rate=overlap_rate, **OPTICS)
    assert relative_error(chunked, whole) < tolerance
    worst_plane = max(
        relative_error(chunked[:, :, x], whole[:, :, x]) for x in range(volume.shape[2])
    )
    assert worst_plane < 5 * tolerance  # no plane (a seam) is much worse than the average


def test_one_chunk_covering_the_volume_is_the_whole_volume_filter() -> None:
    volume = noise((11, 20, 19), seed=2)
    whole = deconvolve(volume, **OPTICS)
    chunked = deconvolve(volume, chunk_size=16, overlap_rate=0.25, **OPTICS)
    np.testing.assert_allclose(chunked, whole, atol=1e-4 * volume.std())


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_output_keeps_the_input_mean_and_std(chunk_size: int | None) -> None:
    volume = noise((21, 40, 35), seed=3)
    result = deconvolve(volume, chunk_size=chunk_size, **OPTICS)
    mean, std = mean_std(volume)
    out_mean, out_std = mean_std(result)
    assert out_mean == pytest.approx(mean, rel=1e-5)
    assert out_std == pytest.approx(std, rel=1e-5)


def test_defocus_zero_passes_through(caplog: pytest.LogCaptureFixture) -> None:
    volume = noise((5, 12, 13), seed=4)
    with caplog.at_level(logging.WARNING):
        result = deconvolve(volume, **{**OPTICS, "defocus_angstrom": 0.0})
    np.testing.assert_array_equal(result, volume)
    assert "defocus is 0" in caplog.text


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_memory_mapped_input_and_output(tmp_path: Path, chunk_size: int | None) -> None:
    volume = noise((13, 30, 27), seed=5)
    write_volume(tmp_path / "in.mrc", volume)
    with new_volume(tmp_path / "out.mrc", volume.shape) as out:
        deconvolve(open_volume(tmp_path / "in.mrc"), chunk_size=chunk_size, out=out, **OPTICS)
    expected = deconvolve(volume, chunk_size=chunk_size, **OPTICS)
    np.testing.assert_array_equal(read_volume(tmp_path / "out.mrc"), expected)


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    deconvolve(noise((6, 8, 9)), threads=before + 1, **OPTICS)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("length", [33, 70, 83, 200])
@pytest.mark.parametrize(("chunk_size", "overlap_rate"), [(16, 0.25), (20, 0.0), (32, 0.45)])
def test_chunk_weights_sum_to_one(length: int, chunk_size: int, overlap_rate: float) -> None:
    plan = _AxisChunks.plan(length, chunk_size, overlap_rate)
    total = np.zeros(length)
    for start, weight in zip(plan.starts, plan.weights, strict=True):
        assert start >= 0 and start + plan.core <= length and weight.shape == (plan.core,)
        total[start : start + plan.core] += weight
    np.testing.assert_allclose(total, 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pixel_size_angstrom": 0.0}, "pixel size"),
        ({"defocus_angstrom": -100.0}, "defocus must be >= 0"),
        ({"overlap_rate": 0.7}, "overlap_rate"),
    ],
)
def test_bad_parameters(change: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        deconvolve(noise((6, 8, 9)), **{**OPTICS, "overlap_rate": 0.25, **change})


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_a_constant_volume_is_refused(chunk_size: int | None) -> None:
    """Its deconvolution is the constant again: an all-zero map was written back silently."""
    with pytest.raises(InputError, match=r"every voxel is 2\.5; the map is empty"):
        deconvolve(np.full((6, 8, 9), 2.5, np.float32), **OPTICS, chunk_size=chunk_size)


WIENER_ARGS = (10.0, 30000.0, 300.0, 2.7, 0.1, 1.0, 1.0, 0.02)  # pixel .. highpassnyquist


def w(s_per_angstrom: float) -> float:
    return float(wiener_1d(torch.tensor([s_per_angstrom], dtype=torch.float64), *WIENER_ARGS)[0])


@pytest.mark.parametrize("shape", [(24, 24, 24), (16, 24, 20)])
def test_chunk_zero_frequency_takes_w_at_half_the_lowest_frequency(shape) -> None:
    pixel = WIENER_ARGS[0]
    lowest = 1.0 / (max(shape) * pixel)  # 1/Å: one period over the chunk's longest side
    got = float(_Wiener(*WIENER_ARGS, phase_flipped=False).chunk_filter(shape)[0, 0, 0])
    assert got == pytest.approx(w(0.5 * lowest), rel=1e-5)
    assert abs(got) > 10 * abs(w(0.0))  # the chunk's mean is not flattened
