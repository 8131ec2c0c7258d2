"""Fourier shell correlation and the resolution read off it."""

import math

import pytest
import torch

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.fsc import (
    fourier_shell_correlation,
    fourier_shell_correlations,
    resolution_at_threshold,
)
from isonet2.fourier.wedge import missing_wedge_mask


def random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(16, 16, 16), (15, 15, 15), (12, 16, 20)])
def test_fsc_of_a_volume_with_itself_is_one(shape: tuple[int, int, int]) -> None:
    volume = random(*shape)
    freq, fsc = fourier_shell_correlation(volume, volume)
    shortest = min(shape)
    assert freq.shape == fsc.shape == (shortest // 2 + 1,)
    assert torch.allclose(freq, torch.arange(shortest // 2 + 1) / shortest)
    assert torch.allclose(fsc, torch.ones(()), atol=1e-5)


def test_fsc_is_scale_invariant_and_sign_sensitive() -> None:
    volume = random(16, 16, 16, seed=1)
    assert torch.allclose(fourier_shell_correlation(volume, 3 * volume)[1], torch.ones(()))
    assert torch.allclose(fourier_shell_correlation(volume, -volume)[1], -torch.ones(()))


def test_fsc_of_independent_noise_is_near_zero() -> None:
    _, fsc = fourier_shell_correlation(random(32, 32, 32, seed=2), random(32, 32, 32, seed=3))
    assert abs(float(fsc[2:].mean())) < 0.1
    assert float(fsc[4:].abs().max()) < 0.3


def test_fourier_mask_restricts_the_voxels() -> None:
    shape = (16, 16, 16)
    mask = missing_wedge_mask(shape, -60.0, 60.0)
    volume = random(*shape, seed=4)
    noise_in_wedge = apply_fourier_filter(random(*shape, seed=5), 1 - mask)
    _, fsc = fourier_shell_correlation(volume, volume + noise_in_wedge, mask=mask)
    assert torch.allclose(fsc, torch.ones(()), atol=1e-5)
    _, unmasked = fourier_shell_correlation(volume, volume + noise_in_wedge)
    assert float(unmasked[3:].max()) < 0.95


def test_coarser_shells() -> None:
    volume = random(16, 16, 16, seed=6)
    freq, fsc = fourier_shell_correlation(volume, volume, n_shells=5)
    assert torch.allclose(freq, torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0]) / 16)
    assert torch.allclose(fsc, torch.ones(()), atol=1e-5)


def test_resolution_at_threshold() -> None:
    freq = torch.arange(9) / 16
    fsc = 1 - freq / 0.5
    assert resolution_at_threshold(freq, fsc, 0.5, 4.0) == pytest.approx(4.0 / 0.25)
    assert resolution_at_threshold(freq, fsc, 0.143, 4.0) == pytest.approx(4.0 / (0.5 * 0.857))
    assert resolution_at_threshold(freq, torch.ones(9), 0.143, 4.0) == 8.0
    assert resolution_at_threshold(freq, torch.zeros(9), 0.143, 4.0) == math.inf
    # shells 0-2 are not read; shells below the threshold before the curve reaches it do not
    # end it; a fall after it reached the threshold does
    dipped = fsc.clone()
    dipped[1:3] = torch.tensor([-0.4, 0.05])
    assert resolution_at_threshold(freq, dipped, 0.143, 4.0) == pytest.approx(4.0 / (0.5 * 0.857))
    dipped[3] = 0.1
    assert resolution_at_threshold(freq, dipped, 0.5, 4.0) == pytest.approx(4.0 / 0.25)
    dipped[5] = 0.1
    crossing = 4 / 16 + (0.5 - 0.143) / (0.5 - 0.1) / 16
    assert resolution_at_threshold(freq, dipped, 0.143, 4.0) == pytest.approx(4.0 / crossing)


def full_spectrum_fsc(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The plain definition over the whole spectrum, one-voxel shells, for comparison."""
    spec_a, spec_b = torch.fft.fftn(a.double()), torch.fft.fftn(b.double())
    grids = torch.meshgrid(
        *(torch.fft.fftfreq(n, dtype=torch.float64) for n in a.shape), indexing="ij"
    )
    shortest = min(a.shape)
    shell = torch.round(torch.sqrt(sum(g**2 for g in grids)) * shortest).long()
    keep = shell <= shortest // 2
    if mask is not None:
        keep &= torch.fft.ifftshift(mask) > 0.5
    values = []
    for i in range(shortest // 2 + 1):
        sel = keep & (shell == i)
        cross = (spec_a[sel] * spec_b[sel].conj()).real.sum()
        power = (spec_a[sel].abs() ** 2).sum() * (spec_b[sel].abs() ** 2).sum()
        values.append(float(cross / power.sqrt()) if power > 0 else 0.0)
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("shape", [(16, 16, 16), (15, 17, 13), (12, 16, 20), (12, 14, 11)])
def test_several_masks_from_half_spectra_equal_the_full_spectrum_definition(
    shape: tuple[int, int, int],
) -> None:
    a = random(*shape, seed=7)
    b = a + 2 * random(*shape, seed=8)
    wedge = missing_wedge_mask(shape, -50, 60)
    masks = {"all": None, "in": 1.0 - wedge, "out": wedge}
    curves = fourier_shell_correlations(a, b, masks)
    assert list(curves) == ["all", "in", "out"]
    for name, mask in masks.items():
        torch.testing.assert_close(
            curves[name][1].double(), full_spectrum_fsc(a, b, mask), atol=1e-5, rtol=0
        )
        torch.testing.assert_close(curves[name][1], fourier_shell_correlation(a, b, mask=mask)[1])


def test_a_mask_of_another_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="mask 'w' has shape"):
        fourier_shell_correlations(random(8, 8, 8), random(8, 8, 8), {"w": torch.ones(8, 8, 9)})


def test_shell_2_is_never_read() -> None:
    # evenly spaced shells 0..8 of 1/16 cycles/pixel; pixel 4 Å
    freq = torch.arange(9, dtype=torch.float32) / 16
    # above 0.5 at shell 2, below at shell 3, back above from shell 4, falls between 6 and 7
    fsc = torch.tensor([1.0, 1.0, 0.9, 0.1, 0.9, 0.9, 0.9, 0.1, 0.1])
    # read from shell 3 on: shell 3 is passed over (not yet reached), crossing is 6 -> 7
    crossing = 6 / 16 + (0.9 - 0.5) / (0.9 - 0.1) / 16
    assert resolution_at_threshold(freq, fsc, 0.5, 4.0) == pytest.approx(4.0 / crossing)


def test_a_shell_exactly_at_the_threshold_does_not_end_the_curve() -> None:
    freq = torch.arange(9, dtype=torch.float32) / 16
    # exactly 0.5 at shell 5 (exact in float32) counts as "at or above": no fall there
    fsc = torch.tensor([1.0, 1.0, 1.0, 0.9, 0.8, 0.5, 0.7, 0.3, 0.1])
    crossing = 6 / 16 + (0.7 - 0.5) / (0.7 - 0.3) / 16
    assert resolution_at_threshold(freq, fsc, 0.5, 4.0) == pytest.approx(4.0 / crossing)
