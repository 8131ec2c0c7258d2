"""CTF, first-peak clipping, envelope, phase flip and Wiener filter against analytic facts."""

import math
from collections.abc import Callable

import pytest
import torch

from isonet2.errors import InputError
from isonet2.fourier.ctf import (
    ctf_1d,
    ctf_3d,
    electron_wavelength_angstrom,
    first_peak_clip,
    phase_flip_filter,
    wiener_filter_3d,
)
from isonet2.fourier.grids import centred_to_rfft, radial_frequency_grid

DEFOCUS = 30000.0
CS_MM = 2.7
VOLTAGE = 300.0
PIXEL = 5.0
SHAPE = (24, 24, 24)


def optics(amplitude: float = 0.1) -> tuple[float, float, float, float, float]:
    return PIXEL, DEFOCUS, VOLTAGE, CS_MM, amplitude


def test_wavelength() -> None:
    assert electron_wavelength_angstrom(300) == pytest.approx(0.019687, abs=1e-6)
    assert electron_wavelength_angstrom(200) == pytest.approx(0.025079, abs=1e-6)


@pytest.mark.parametrize("amplitude", [0.0, 0.07, 0.1, 0.3])
def test_ctf_at_zero_frequency_is_amplitude_contrast(amplitude: float) -> None:
    value = ctf_1d(torch.zeros(1, dtype=torch.float64), DEFOCUS, VOLTAGE, CS_MM, amplitude)
    assert float(value) == pytest.approx(amplitude, abs=1e-12)
    centre = ctf_3d(SHAPE, *optics(amplitude))[12, 12, 12]
    assert float(centre) == pytest.approx(amplitude, abs=1e-7)


@pytest.mark.parametrize("amplitude", [0.07, 0.1])
def test_ctf_zeros_where_chi_is_k_pi_minus_phase_shift(amplitude: float) -> None:
    wavelength = electron_wavelength_angstrom(VOLTAGE)
    a2 = math.pi * wavelength * DEFOCUS
    a4 = 0.5 * math.pi * CS_MM * 1e7 * wavelength**3
    shift = math.atan(amplitude / math.sqrt(1 - amplitude**2))
    for k in range(1, 6):
        chi = k * math.pi - shift
        s_sq = (a2 - math.sqrt(a2 * a2 - 4 * a4 * chi)) / (2 * a4)
        s = torch.tensor([math.sqrt(s_sq)], dtype=torch.float64)
        assert abs(float(ctf_1d(s, DEFOCUS, VOLTAGE, CS_MM, amplitude))) < 1e-9


def first_peak_analytic(amplitude: float = 0.1) -> float:
    """CTF = sin(chi + asin(A)) peaks first where chi = pi/2 - asin(A)."""
    wavelength = electron_wavelength_angstrom(VOLTAGE)
    chi = math.pi / 2 - math.asin(amplitude)
    a2 = math.pi * wavelength * DEFOCUS
    a4 = 0.5 * math.pi * CS_MM * 1e7 * wavelength**3
    return math.sqrt((a2 - math.sqrt(a2 * a2 - 4 * a4 * chi)) / (2 * a4))


def sampled_curve() -> tuple[torch.Tensor, torch.Tensor, int]:
    s = torch.linspace(0, 0.5 / PIXEL, 4001, dtype=torch.float64)
    curve = ctf_1d(s, DEFOCUS, VOLTAGE, CS_MM, 0.1)
    peak = int(torch.argmax(curve[: int(torch.searchsorted(s, 1.5 * first_peak_analytic()))]))
    assert float(s[peak]) == pytest.approx(first_peak_analytic(), rel=2e-3)
    return s, curve, peak


def test_clip_mode_0_and_above_peak_are_unchanged() -> None:
    s, curve, peak = sampled_curve()
    assert torch.equal(first_peak_clip(curve, s, 0), curve)
    for mode in (1, 2, 3):
        clipped = first_peak_clip(curve, s, mode)
        assert torch.equal(clipped[peak:], curve[peak:])


def test_clip_mode_1_is_constant_below_peak() -> None:
    s, curve, peak = sampled_curve()
    clipped = first_peak_clip(curve, s, 1)
    assert torch.all(clipped[:peak] == curve[peak])
    assert float(curve[peak]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("mode", "shape_fn"),
    [(2, lambda r: 1 - torch.sin(math.pi / 2 * r)), (3, lambda r: torch.cos(math.pi / 2 * r))],
)
def test_clip_modes_2_and_3_follow_their_formula(
    mode: int, shape_fn: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    s, curve, peak = sampled_curve()
    clipped = first_peak_clip(curve, s, mode)
    ratio = s[:peak] / s[peak]
    expected = torch.maximum(curve[:peak], curve[peak] * shape_fn(ratio))
    assert torch.allclose(clipped[:peak], expected, atol=1e-12)
    assert torch.all(clipped >= curve)
    assert float(clipped[0]) == pytest.approx(float(curve[peak]))


def test_clip_without_peak_below_nyquist_changes_nothing() -> None:
    s = torch.linspace(0, 0.05, 200, dtype=torch.float64)
    curve = ctf_1d(s, 500.0, VOLTAGE, CS_MM, 0.1)  # first peak far past 0.05 1/Å
    assert torch.equal(first_peak_clip(curve, s, 1), curve)


def test_ctf_3d_is_ctf_1d_at_each_radius_with_nyquist_corners() -> None:
    volume = ctf_3d(SHAPE, *optics())
    radius = radial_frequency_grid(SHAPE, dtype=torch.float64).clamp(max=0.5) / PIXEL
    assert torch.allclose(volume, ctf_1d(radius, DEFOCUS, VOLTAGE, CS_MM, 0.1).float(), atol=1e-7)
    nyquist = ctf_1d(torch.tensor([0.5 / PIXEL], dtype=torch.float64), DEFOCUS, VOLTAGE, CS_MM)
    assert float(volume[0, 0, 0]) == pytest.approx(float(nyquist), abs=1e-7)


def test_ctf_3d_clipping_and_envelope() -> None:
    plain = ctf_3d(SHAPE, *optics())
    s = radial_frequency_grid(SHAPE, dtype=torch.float64).clamp(max=0.5) / PIXEL
    below = s < first_peak_analytic()
    clipped = ctf_3d(SHAPE, *optics(), clip_first_peak_mode=1)
    assert torch.allclose(clipped[below], torch.ones(()), atol=1e-6)
    assert torch.equal(clipped[~below], plain[~below])
    for mode in (2, 3):
        assert torch.all(ctf_3d(SHAPE, *optics(), clip_first_peak_mode=mode) >= plain)

    bfactor = 300.0
    enveloped = ctf_3d(SHAPE, *optics(), clip_first_peak_mode=1, bfactor_angstrom2=bfactor)
    voxel = (12, 12, 12 + 5)
    s_voxel = 5 / SHAPE[2] / PIXEL
    assert float(enveloped[voxel] / clipped[voxel]) == pytest.approx(
        math.exp(-bfactor * s_voxel**2 / 2), rel=1e-6
    )
    absolute = ctf_3d(SHAPE, *optics(), bfactor_angstrom2=bfactor, absolute=True)
    assert torch.equal(absolute, ctf_3d(SHAPE, *optics(), bfactor_angstrom2=bfactor).abs())


def test_rfft_layouts_match_centred() -> None:
    assert torch.equal(
        ctf_3d(SHAPE, *optics(), clip_first_peak_mode=2, rfft=True),
        centred_to_rfft(ctf_3d(SHAPE, *optics(), clip_first_peak_mode=2)),
    )
    wiener = (*optics(), 1.0, 1.0, 0.02)
    assert torch.equal(
        wiener_filter_3d((15, 16, 17), *wiener, rfft=True),
        centred_to_rfft(wiener_filter_3d((15, 16, 17), *wiener)),
    )


def test_phase_flip_is_sign_of_ctf() -> None:
    flip = phase_flip_filter(SHAPE, *optics())
    ctf = ctf_3d(SHAPE, *optics())
    assert set(flip.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(flip * ctf, ctf.abs())


def test_defocus_zero_means_no_ctf() -> None:
    no_ctf = (PIXEL, 0.0, VOLTAGE, CS_MM, 0.1)
    assert torch.equal(ctf_3d(SHAPE, *no_ctf, bfactor_angstrom2=200.0), torch.ones(SHAPE))
    assert torch.equal(phase_flip_filter(SHAPE, *no_ctf, rfft=True), torch.ones(24, 24, 13))
    assert torch.equal(wiener_filter_3d(SHAPE, *no_ctf, 1.0, 1.0, 0.02), torch.ones(SHAPE))


def test_wiener_is_inverse_ctf_at_high_snr() -> None:
    ctf = ctf_3d(SHAPE, *optics())
    wiener = wiener_filter_3d(SHAPE, *optics(), 0.0, 10.0, 0.02)
    f = radial_frequency_grid(SHAPE) / 0.5
    usable = (ctf.abs() > 0.2) & (f > 0.1)
    assert usable.sum() > 100
    assert torch.allclose(wiener[usable] * ctf[usable], torch.ones(()), atol=1e-4)
    flipped = wiener_filter_3d(SHAPE, *optics(), 0.0, 10.0, 0.02, phase_flipped=True)
    assert torch.allclose(flipped[usable] * ctf[usable].abs(), torch.ones(()), atol=1e-4)


def test_wiener_formula_at_one_voxel() -> None:
    snrfalloff, strength, highpass_nyquist = 1.2, 0.5, 0.3
    wiener = wiener_filter_3d(SHAPE, *optics(), snrfalloff, strength, highpass_nyquist)
    s = 2 / SHAPE[2] / PIXEL
    f = s * 2 * PIXEL
    highpass = 1 - math.cos(math.pi * min(1.0, f / highpass_nyquist))
    snr = math.exp(-f * snrfalloff * 100 / PIXEL) * 10**strength * highpass + 1e-6
    ctf = float(ctf_1d(torch.tensor([s], dtype=torch.float64), DEFOCUS, VOLTAGE, CS_MM, 0.1))
    assert float(wiener[12, 12, 14]) == pytest.approx(ctf / (ctf**2 + 1 / snr), rel=1e-5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ctf_3d(SHAPE, PIXEL, -100.0, VOLTAGE, CS_MM, 0.1),
        lambda: ctf_3d(SHAPE, 0.0, DEFOCUS, VOLTAGE, CS_MM, 0.1),
        lambda: ctf_3d(SHAPE, PIXEL, DEFOCUS, VOLTAGE, CS_MM, 1.5),
        lambda: ctf_3d(SHAPE, *optics(), clip_first_peak_mode=4),
        lambda: wiener_filter_3d(SHAPE, *optics(), 1.0, 1.0, 0.0),
        lambda: electron_wavelength_angstrom(0.0),
    ],
)
def test_bad_parameters_raise_input_error(call: Callable[[], object]) -> None:
    with pytest.raises(InputError):
        call()


def test_zero_ctf_at_dc_counts_as_plus_one() -> None:
    shape = (8, 8, 8)
    flip = phase_flip_filter(shape, 5.0, 30000.0, 300.0, 2.7, 0.0)
    c = [n // 2 for n in shape]
    assert flip[c[0], c[1], c[2]] == 1.0
    flip_rfft = phase_flip_filter(shape, 5.0, 30000.0, 300.0, 2.7, 0.0, rfft=True)
    assert flip_rfft[0, 0, 0] == 1.0


def test_first_peak_beyond_nyquist_is_not_clipped() -> None:
    pixel, defocus = 10.0, 8000.0  # Nyquist 0.05 1/Å
    s = torch.linspace(0.0, 0.1, 20001, dtype=torch.float64)
    curve = ctf_1d(s, defocus)
    peak_s = float(s[int(torch.argmax(curve))])  # the first peak, between Nyquist and 2x Nyquist
    assert 0.05 < peak_s < 0.1
    args = ((16, 16, 16), pixel, defocus, 300.0, 2.7, 0.1)
    for mode in (1, 2, 3):
        clipped = ctf_3d(*args, clip_first_peak_mode=mode)
        assert torch.equal(clipped, ctf_3d(*args, clip_first_peak_mode=0))
