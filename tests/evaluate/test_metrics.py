"""isonet2.evaluate: exact answers on known pairs, and what the wedge does to a raw tomogram."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from isonet2.evaluate import (
    Evaluation,
    central_crop,
    cone_mask,
    evaluate,
    scaled_correlation,
)
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.simulate import SimulatedTomogram, simulate_tomogram

PIXEL = 10.0


@pytest.fixture(scope="module")
def sim() -> SimulatedTomogram:
    return simulate_tomogram((64, 64, 64), preset="cell", tilt_step_deg=6.0, seed=3)


def score(volume: np.ndarray, reference: np.ndarray, **kwargs: float) -> Evaluation:
    return evaluate(
        volume,
        reference,
        pixel_size_angstrom=PIXEL,
        tilt_min_deg=-60.0,
        tilt_max_deg=60.0,
        **kwargs,
    )


def test_reference_against_itself_is_perfect(sim: SimulatedTomogram) -> None:
    scores = score(sim.ground_truth, sim.ground_truth)
    assert scores.correlation == pytest.approx(1.0, abs=1e-9)
    assert scores.scale == pytest.approx(1.0, abs=1e-9)
    for name, (freq, fsc) in scores.curves.items():
        assert freq[0] > 0 and freq[-1] == pytest.approx(0.5), name
        np.testing.assert_allclose(fsc, 1.0, atol=1e-5, err_msg=name)
    for mean in (scores.mean_fsc, scores.mean_fsc_in_wedge, scores.mean_fsc_out_of_wedge):
        assert mean == pytest.approx(1.0, abs=1e-5)
    nyquist = 2 * PIXEL
    assert scores.resolution_fsc05_angstrom == scores.resolution_fsc0143_angstrom == nyquist
    assert scores.resolution_z_angstrom == scores.resolution_x_angstrom == nyquist
    assert scores.anisotropy == 1.0 and scores.fsc_shape == (64, 64, 64)


def test_raw_full_map_lacks_the_missing_wedge(sim: SimulatedTomogram) -> None:
    scores = score(sim.even + sim.odd, sim.ground_truth)
    assert scores.mean_fsc_in_wedge < 0.1
    assert scores.mean_fsc_out_of_wedge > scores.mean_fsc_in_wedge + 0.1
    assert scores.resolution_x_angstrom < scores.resolution_z_angstrom  # Z is the blurred axis
    assert 0 < scores.correlation < 0.5


def test_low_pass_raises_correlation_but_not_the_wedge(sim: SimulatedTomogram) -> None:
    full = sim.even + sim.odd
    raw = score(full, sim.ground_truth)
    smooth = score(gaussian_filter(full, 1.5), sim.ground_truth)
    assert smooth.correlation > raw.correlation + 0.03
    assert smooth.mean_fsc_in_wedge == pytest.approx(raw.mean_fsc_in_wedge, abs=0.01)
    assert smooth.mean_fsc_in_wedge < 0.1


def test_correlation_is_affine_invariant_and_streams_exactly() -> None:
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((40, 9, 7)).astype(np.float32)  # 3 slabs, the last partial
    volume = (reference + 0.7 * rng.standard_normal(reference.shape)).astype(np.float32)
    r, scale = scaled_correlation(volume, reference)
    expected = np.corrcoef(volume.ravel().astype(np.float64), reference.ravel())[0, 1]
    assert r == pytest.approx(expected, rel=1e-9)
    slope = np.polyfit(volume.ravel().astype(np.float64), reference.ravel(), 1)[0]
    assert scale == pytest.approx(slope, rel=1e-9)
    r2, scale2 = scaled_correlation(3 * volume + 2, reference)
    assert r2 == pytest.approx(r, rel=1e-6) and scale2 == pytest.approx(scale / 3, rel=1e-6)
    assert scaled_correlation(np.zeros_like(reference), reference) == (0.0, 0.0)


def test_large_volumes_use_a_central_crop(sim: SimulatedTomogram) -> None:
    volume = np.arange(10 * 50 * 7, dtype=np.float32).reshape(10, 50, 7)
    np.testing.assert_array_equal(central_crop(volume, 8), volume[1:9, 21:29, :])
    assert central_crop(volume, 8).flags.writeable
    scores = score(sim.even + sim.odd, sim.ground_truth, max_side=32)
    assert scores.fsc_shape == (32, 32, 32) and len(scores.curves["all"][0]) == 16


def test_z_cone_lies_inside_the_missing_wedge() -> None:
    shape = (32, 20, 32)
    cone_z, cone_x = cone_mask(shape, 0, 30.0), cone_mask(shape, 2, 30.0)
    wedge = missing_wedge_mask(shape, -60.0, 60.0)
    centre = (16, 10, 16)
    assert cone_z[centre] == cone_x[centre] == 1  # zero frequency: in every cone
    assert float((cone_z * wedge).sum()) == 1.0  # only the zero frequency is measured
    assert cone_z[20, 10, 16] == 1 and cone_x[20, 10, 16] == 0
    assert cone_x[16, 10, 20] == 1 and cone_z[16, 10, 20] == 0
    flipped = torch.roll(torch.flip(cone_z, dims=(0, 1, 2)), shifts=(1, 1, 1), dims=(0, 1, 2))
    assert torch.equal(flipped, cone_z)  # Friedel-symmetric


@pytest.mark.parametrize("shape", [(32, 32, 32), (24, 32, 40)])
def test_a_map_right_only_where_measured_scores_zero_in_every_wedge_shell(
    shape: tuple[int, int, int],
) -> None:
    """Measured frequencies taken from the reference, the wedge's from independent noise: no
    in-wedge shell may correlate, the Nyquist one included (whose outer half voxel, beyond the
    training mask's sphere, was counted in the wedge: 0.5 there)."""
    rng = np.random.default_rng(5)
    reference = rng.standard_normal(shape)
    measured = missing_wedge_mask(shape, -60.0, 60.0, cut_corners=False).numpy() > 0
    centred = np.fft.fftshift(np.fft.fftn(reference))
    other = np.fft.fftshift(np.fft.fftn(rng.standard_normal(shape)))
    volume = np.fft.ifftn(np.fft.ifftshift(np.where(measured, centred, other))).real
    scores = score(volume.astype(np.float32), reference.astype(np.float32))
    in_wedge, out_of_wedge = scores.curves["in wedge"][1], scores.curves["out of wedge"][1]
    assert abs(in_wedge[-1]) < 0.1, in_wedge  # hundreds of voxels: noise level ~0.05
    assert np.abs(in_wedge[2:]).max() < 0.3, in_wedge  # shells 1-2: a few voxels each
    assert abs(scores.mean_fsc_in_wedge) < 0.05
    # out of the wedge equal up to the conjugate-pair rounding of an even side's Nyquist plane
    assert out_of_wedge[:-1].min() > 0.99 and scores.mean_fsc_out_of_wedge > 0.95


def test_cut_corners_only_removes_frequencies_beyond_the_nyquist_sphere() -> None:
    shape = (16, 12, 20)
    cut = missing_wedge_mask(shape, -50.0, 65.0)
    angles = missing_wedge_mask(shape, -50.0, 65.0, cut_corners=False)
    assert torch.all(cut <= angles)
    kz, ky, kx = torch.meshgrid(*[torch.arange(n) - n // 2 for n in shape], indexing="ij")
    inside = (kz / 8.0) ** 2 + (ky / 6.0) ** 2 + (kx / 10.0) ** 2 <= 1.0
    assert torch.equal(cut, angles * inside)


def test_dictionary_is_strict_json() -> None:
    scores = Evaluation(
        correlation=0.123456,
        scale=2.0,
        resolution_fsc05_angstrom=math.inf,
        resolution_fsc0143_angstrom=41.23456,
        mean_fsc=0.5,
        mean_fsc_in_wedge=0.1,
        mean_fsc_out_of_wedge=0.9,
        resolution_z_angstrom=math.inf,
        resolution_x_angstrom=30.0,
        fsc_shape=(64, 64, 64),
        curves={},
    )
    values = json.loads(json.dumps(scores.as_dict(), allow_nan=False))
    assert values["correlation"] == 0.1235 and values["resolution_fsc0143_angstrom"] == 41.23
    assert values["resolution_fsc05_angstrom"] is None and values["resolution_z_angstrom"] is None
    assert values["anisotropy_z_over_x"] is None and values["fsc_shape"] == [64, 64, 64]


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="one shape"):
        score(np.zeros((8, 8, 8), np.float32), np.zeros((8, 8, 9), np.float32))


def test_cone_uses_physical_angles_on_a_non_cubic_grid() -> None:
    shape = (16, 16, 32)  # centred layout: zero frequency at (8, 8, 16)
    z_cone = cone_mask(shape, 0, 30.0)
    x_cone = cone_mask(shape, 2, 30.0)
    # index offsets (kz, kx) = (4, 4): frequencies (4/16, 4/32) = (0.25, 0.125) cycles/pixel,
    # atan(0.125 / 0.25) = 26.6 degrees from the z axis (45 degrees in raw index units)
    assert math.degrees(math.atan2(4 / 32, 4 / 16)) < 30.0
    assert z_cone[8 + 4, 8, 16 + 4] == 1.0
    # (kz, kx) = (1, 4): (0.0625, 0.125): 26.6 degrees from the x axis (14 in index units)
    assert x_cone[8 + 1, 8, 16 + 4] == 1.0
    # (kz, kx) = (2, 2): (0.125, 0.0625): 63.4 degrees from the x axis: outside the X cone
    assert x_cone[8 + 2, 8, 16 + 2] == 0.0
