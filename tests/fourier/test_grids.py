"""Frequency grids: centred and rfft layouts agree with torch.fft's own conventions."""

import pytest
import torch

from isonet2.fourier.grids import (
    centred_frequencies,
    centred_to_rfft,
    frequency_indices,
    friedel_weights,
    radial_frequency_grid,
)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 15, 16])
def test_centred_frequencies_are_fftshifted_fftfreq(n: int) -> None:
    expected = torch.fft.fftshift(torch.fft.fftfreq(n, dtype=torch.float64))
    assert torch.equal(centred_frequencies(n, dtype=torch.float64), expected)
    assert centred_frequencies(n)[n // 2] == 0


@pytest.mark.parametrize("shape", [(8, 10, 12), (7, 9, 11), (6, 6, 6)])
def test_rfft_layout_is_centred_to_rfft_of_centred_layout(shape: tuple[int, int, int]) -> None:
    centred = radial_frequency_grid(shape, dtype=torch.float64)
    half = radial_frequency_grid(shape, rfft=True, dtype=torch.float64)
    assert half.shape == torch.fft.rfftn(torch.zeros(shape)).shape
    assert torch.equal(half, centred_to_rfft(centred))
    for full, rfft_half in zip(
        frequency_indices(shape), frequency_indices(shape, rfft=True), strict=True
    ):
        assert torch.equal(
            rfft_half.expand(half.shape), centred_to_rfft(full.expand(shape).contiguous())
        )


def test_rfft_radius_matches_fftfreq_magnitudes() -> None:
    shape = (6, 8, 10)
    fz = torch.fft.fftfreq(6, dtype=torch.float64).reshape(6, 1, 1)
    fy = torch.fft.fftfreq(8, dtype=torch.float64).reshape(1, 8, 1)
    fx = torch.fft.rfftfreq(10, dtype=torch.float64).reshape(1, 1, 6)
    expected = torch.sqrt(fz**2 + fy**2 + fx**2)
    assert torch.allclose(radial_frequency_grid(shape, rfft=True, dtype=torch.float64), expected)


def test_radius_is_physical_for_non_cubic_shapes() -> None:
    grid = radial_frequency_grid((4, 8, 16))
    assert grid[2, 4, 8] == 0
    assert grid[0, 4, 8] == pytest.approx(0.5)  # z Nyquist
    assert grid[2, 0, 8] == pytest.approx(0.5)  # y Nyquist
    assert grid[2, 4, 0] == pytest.approx(0.5)  # x Nyquist


@pytest.mark.parametrize("shape", [(6, 5, 8), (5, 6, 7)])
def test_friedel_weighted_half_spectrum_sums_equal_full_spectrum_sums(
    shape: tuple[int, int, int],
) -> None:
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    half_a, half_b = torch.fft.rfftn(a), torch.fft.rfftn(b)
    full_a, full_b = torch.fft.fftn(a), torch.fft.fftn(b)
    weight = friedel_weights(shape[-1])
    assert weight.shape == (shape[-1] // 2 + 1,)
    half_cross = ((half_a * half_b.conj()).real * weight).sum()
    assert half_cross.item() == pytest.approx((full_a * full_b.conj()).real.sum().item(), rel=1e-5)
    half_power = (half_a.abs() ** 2 * weight).sum()
    assert half_power.item() == pytest.approx((full_a.abs() ** 2).sum().item(), rel=1e-5)
