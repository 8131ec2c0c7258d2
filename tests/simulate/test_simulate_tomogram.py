"""simulate_tomogram: reproducibility, slab geometry, contrast, noise, validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from isonet2.errors import InputError
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.simulate import SimulatedTomogram, get_preset, simulate_tomogram
from isonet2.simulate.acquisition import record_images, split_dose
from isonet2.simulate.projector import detector_width

SHAPE = (64, 64, 64)
FAST = {"tilt_step_deg": 6.0}


@pytest.fixture(scope="module")
def cell() -> SimulatedTomogram:
    return simulate_tomogram(SHAPE, seed=3, preset="cell", snr=1.0, **FAST)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _wedge_filtered(volume: np.ndarray, tilt_min: float, tilt_max: float) -> np.ndarray:
    mask = missing_wedge_mask(volume.shape, tilt_min, tilt_max).numpy()
    spectrum = np.fft.fftshift(np.fft.fftn(volume)) * mask
    return np.real(np.fft.ifftn(np.fft.ifftshift(spectrum)))


def test_outputs_are_float32_volumes_of_the_shape(cell: SimulatedTomogram) -> None:
    for volume in (cell.ground_truth, cell.even, cell.odd):
        assert volume.shape == SHAPE and volume.dtype == np.float32
        assert np.all(np.isfinite(volume))
    assert cell.settings.pixel_size_angstrom == get_preset("cell").pixel_size_angstrom
    assert cell.settings.snr == 1.0


def test_same_seed_same_bytes_other_seed_other_bytes(cell: SimulatedTomogram) -> None:
    again = simulate_tomogram(SHAPE, seed=3, preset="cell", snr=1.0, **FAST)
    other = simulate_tomogram(SHAPE, seed=4, preset="cell", snr=1.0, **FAST)
    for name in ("ground_truth", "even", "odd"):
        assert getattr(again, name).tobytes() == getattr(cell, name).tobytes()
        assert getattr(other, name).tobytes() != getattr(cell, name).tobytes()


def test_slab_has_vacuum_above_and_below(cell: SimulatedTomogram) -> None:
    fraction = get_preset("cell").phantom.slab_thickness_fraction
    distance = np.abs(np.arange(SHAPE[0]) - (SHAPE[0] - 1) / 2)
    vacuum = cell.ground_truth[distance > fraction * SHAPE[0] / 2 + 3]
    assert len(vacuum) >= 2 * 5
    assert np.ptp(vacuum) < 1e-5
    inside = cell.ground_truth[distance < fraction * SHAPE[0] / 2 - 3]
    assert inside.mean() < vacuum.mean() - 0.1


def test_ground_truth_shows_protein_darker_than_ice(cell: SimulatedTomogram) -> None:
    params = get_preset("cell").phantom
    vacuum_level = float(cell.ground_truth[0, 0, 0])
    ice_level = vacuum_level - params.ice_density
    core = cell.ground_truth[SHAPE[0] // 2 - 5 : SHAPE[0] // 2 + 5]
    assert np.median(core) == pytest.approx(ice_level, abs=0.05)
    assert cell.ground_truth.min() < ice_level - 0.5 * params.protein_density
    assert abs(float(cell.ground_truth.mean(dtype=np.float64))) < 1e-5


def test_halves_carry_independent_noise_and_the_same_signal(cell: SimulatedTomogram) -> None:
    """even - odd is pure noise; even + odd correlates positively (protein dark in both)."""
    full = cell.even + cell.odd
    difference = cell.even - cell.odd
    measured = _wedge_filtered(cell.ground_truth, -60.0, 60.0)
    assert _corr(full, cell.ground_truth) > 0.03
    assert _corr(full, measured) > 0.25
    assert abs(_corr(difference, measured)) < 0.02
    assert abs(_corr(difference, cell.ground_truth)) < 0.01


def test_images_show_protein_dark() -> None:
    density = torch.zeros(64, 32, 64)
    density[30:34, 14:18, 30:34] = 1.0
    angles = np.array([0.0])
    images = record_images(
        density, angles, detector_width(density.shape, angles), 10.0, 35000.0, 300.0, 2.7, 0.1
    )
    width = images.shape[-1]
    assert images[0, 16, width // 2] < -0.1
    assert images[0, 16, width // 2] == images.min()


def test_split_dose_gives_the_requested_snr() -> None:
    clean = torch.randn(5, 64, 64, generator=torch.Generator().manual_seed(1))
    even, odd = split_dose(clean, snr=0.5, generator=torch.Generator().manual_seed(2))
    noise = even + odd - clean
    assert float(clean.var() / noise.var()) == pytest.approx(0.5, rel=0.05)
    assert abs(_corr((even - clean / 2).numpy(), (odd - clean / 2).numpy())) < 0.02


@pytest.mark.parametrize("tilt_range", [(-60.0, 60.0), (-50.0, 65.0)])
def test_noise_free_tomogram_is_the_wedge_filtered_ground_truth(
    tilt_range: tuple[float, float],
) -> None:
    """In focus (CTF = amplitude contrast) and without noise, WBP gives A x wedge(truth)."""
    low, high = tilt_range
    result = simulate_tomogram(
        SHAPE,
        seed=0,
        snr=1e6,
        defocus_angstrom=0.0,
        tilt_min_deg=low,
        tilt_max_deg=high,
        tilt_step_deg=3.0,
    )
    full = result.even + result.odd
    measured = _wedge_filtered(result.ground_truth, low, high)
    assert _corr(full, measured) > 0.93
    scale = float((full * measured).sum() / (measured * measured).sum())
    assert scale == pytest.approx(0.1, rel=0.25)
    if low != -high:
        assert _corr(full, _wedge_filtered(result.ground_truth, -high, -low)) < 0.9


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"shape_zyx": (63, 64, 64)}, ">= 64"),
        ({"shape_zyx": (64, 64)}, "three integers"),
        ({"tilt_min_deg": 30.0, "tilt_max_deg": 30.0}, "tilt_min < tilt_max"),
        ({"tilt_min_deg": -95.0}, "tilt_min < tilt_max"),
        ({"tilt_max_deg": 91.0}, "tilt_min < tilt_max"),
        ({"tilt_step_deg": 0.0}, "tilt step"),
        ({"tilt_step_deg": -3.0}, "tilt step"),
        ({"snr": 0.0}, "snr"),
        ({"snr": float("nan")}, "snr"),
        ({"pixel_size_angstrom": 0.0}, "pixel size"),
        ({"pixel_size_angstrom": -1.0}, "pixel size"),
        ({"defocus_angstrom": -100.0}, "defocus"),
        ({"seed": -1}, "seed"),
        ({"preset": "nope"}, "preset"),
        ({"apodization": "box"}, "apodization"),
    ],
)
def test_bad_inputs_raise_one_line_input_errors(change: dict[str, Any], needle: str) -> None:
    arguments: dict[str, Any] = {"shape_zyx": SHAPE, "seed": 0, **FAST, **change}
    with pytest.raises(InputError, match=needle) as raised:
        simulate_tomogram(**arguments)
    assert "\n" not in str(raised.value)
