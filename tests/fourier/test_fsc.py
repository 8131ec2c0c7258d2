"""Fourier shell correlation and the resolution read off it."""

import math

import pytest
import torch

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.fsc import fourier_shell_correlation, resolution_at_threshold
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
