"""Cube group, exact cube rotations vs. their spectra, and arbitrary rotations."""

import math

import pytest
import torch

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.grids import centred_indices, radial_frequency_grid
from isonet2.fourier.rotations import (
    CUBE_ROTATIONS,
    cube_rotation_matrices,
    midpoint_upsample,
    random_rotation_matrices,
    rotate_centred_mask,
    rotate_centred_spectrum,
    rotate_cube,
    rotate_volume,
)
from isonet2.fourier.wedge import missing_wedge_mask


def centred_spectrum(volume: torch.Tensor) -> torch.Tensor:
    dims = (-3, -2, -1)
    return torch.fft.fftshift(torch.fft.fftn(volume, dim=dims), dim=dims)


def random(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_cube_rotations_form_a_group_of_24_proper_rotations() -> None:
    mats = cube_rotation_matrices()
    assert mats.shape == (24, 3, 3)
    assert torch.equal(mats[0], torch.eye(3, dtype=torch.int64))
    assert torch.all(torch.linalg.det(mats.double()).round() == 1)
    keys = {tuple(m.flatten().tolist()) for m in mats}
    assert len(keys) == 24
    for a in mats:
        assert tuple(a.T.flatten().tolist()) in keys
        for b in mats:
            assert tuple((a @ b).flatten().tolist()) in keys


@pytest.mark.parametrize("n", [6, 5])
def test_rotate_cube_moves_a_point_from_c_to_r_c(n: int) -> None:
    c = torch.tensor([1, -2, 2])
    volume = torch.zeros(n, n, n)
    volume[tuple((c + n // 2).tolist())] = 1
    for k, matrix in enumerate(cube_rotation_matrices()):
        target = (matrix @ c + n // 2) % n
        assert rotate_cube(volume, k)[tuple(target.tolist())] == 1


def test_rotate_cube_composes_like_its_matrices() -> None:
    volume = random(2, 1, 6, 6, 6)
    index = {m: k for k, m in enumerate(CUBE_ROTATIONS)}
    mats = cube_rotation_matrices()
    for k1 in range(24):
        for k2 in (3, 10, 17):
            product = tuple(tuple(row) for row in (mats[k2] @ mats[k1]).tolist())
            expected = rotate_cube(volume, index[product])
            assert torch.equal(rotate_cube(rotate_cube(volume, k1), k2), expected)


def test_spectrum_rotation_is_exact_for_even_cubes() -> None:
    volume = random(16, 16, 16, dtype=torch.float64)
    spectrum = centred_spectrum(volume)
    for k in range(24):
        expected = centred_spectrum(rotate_cube(volume, k))
        assert torch.allclose(rotate_centred_spectrum(spectrum, k), expected, atol=1e-10)


def test_spectrum_rotation_for_odd_cubes_up_to_the_documented_phase() -> None:
    n = 15
    volume = random(n, n, n, seed=1, dtype=torch.float64)
    spectrum = centred_spectrum(volume)
    j = centred_indices(n).double()
    axes = [j.reshape(n, 1, 1), j.reshape(1, n, 1), j.reshape(1, 1, n)]
    for k, matrix in enumerate(CUBE_ROTATIONS):
        negated = sum(axes[a] for a in range(3) if sum(matrix[a]) < 0)
        phase = torch.exp(2j * math.pi * (negated + torch.zeros(n, n, n)) / n)
        rotated = rotate_centred_spectrum(spectrum, k)
        expected = centred_spectrum(rotate_cube(volume, k))
        assert torch.allclose(rotated * phase, expected, atol=1e-10)
        assert torch.allclose(rotated.abs(), expected.abs(), atol=1e-10)


@pytest.mark.parametrize("n", [16, 15])
def test_rotated_wedge_filtered_volume_lies_inside_the_rotated_mask(n: int) -> None:
    mask = missing_wedge_mask((n, n, n), -50.0, 65.0)
    filtered = apply_fourier_filter(random(n, n, n, seed=2), mask)
    for k in range(24):
        power = centred_spectrum(rotate_cube(filtered, k)).abs() ** 2
        rotated_mask = rotate_centred_spectrum(mask, k)
        assert float(power[rotated_mask == 0].sum() / power.sum()) < 1e-10
    # An asymmetric wedge is left unchanged only by the identity and by pi about Y.
    pi_about_y = ((-1, 0, 0), (0, 1, 0), (0, 0, -1))
    same = [k for k in range(24) if torch.equal(rotate_centred_spectrum(mask, k), mask)]
    assert same == [0, CUBE_ROTATIONS.index(pi_about_y)]


def test_random_rotation_matrices_are_rotations() -> None:
    mats = random_rotation_matrices(500, torch.Generator().manual_seed(0)).double()
    eye = torch.eye(3, dtype=torch.float64).expand(500, 3, 3)
    assert torch.allclose(mats @ mats.transpose(1, 2), eye, atol=1e-6)
    assert torch.allclose(torch.linalg.det(mats), torch.ones(500, dtype=torch.float64), atol=1e-6)
    assert mats.mean(dim=0).abs().max() < 0.1  # uniform on SO(3): every entry averages to 0
    again = random_rotation_matrices(500, torch.Generator().manual_seed(0)).double()
    assert torch.equal(mats, again)


def test_rotate_volume_by_identity_returns_the_volume() -> None:
    volume = random(2, 1, 12, 12, 12, seed=3)
    eye = torch.eye(3).expand(2, 3, 3)
    assert torch.allclose(rotate_volume(volume, eye), volume, atol=1e-5)


@pytest.mark.parametrize("n", [12, 11])
def test_rotate_volume_by_cube_matrices_matches_rotate_cube_in_the_interior(n: int) -> None:
    volume = random(1, 1, n, n, n, seed=4)
    inner = (..., slice(1, None), slice(1, None), slice(1, None))  # the wrapped slice is 0 here
    for k, matrix in enumerate(cube_rotation_matrices(dtype=torch.float32)):
        rotated = rotate_volume(volume, matrix[None])
        assert torch.allclose(rotated[inner], rotate_cube(volume, k)[inner], atol=1e-5)


def test_rotate_centred_mask_by_cube_matrices_matches_rotate_centred_spectrum() -> None:
    n = 16
    mask = missing_wedge_mask((n, n, n), -50.0, 65.0)
    mats = cube_rotation_matrices(dtype=torch.float32)
    rotated = rotate_centred_mask(mask, mats)
    assert rotated.shape == (24, 1, n, n, n)
    inner = (slice(1, None), slice(1, None), slice(1, None))
    for k in range(24):
        expected = rotate_centred_spectrum(mask, k)[inner]
        assert torch.allclose(rotated[k, 0][inner], expected, atol=1e-5)


def test_rotate_centred_mask_follows_rotate_volume() -> None:
    """A rotated wedge-filtered volume keeps most low-frequency power inside the rotated mask;
    the transposed (wrong-handed) rotation does much worse."""
    n = 24
    mask = missing_wedge_mask((n, n, n), -50.0, 65.0)
    filtered = apply_fourier_filter(random(4, 1, n, n, n, seed=5), mask)
    mats = random_rotation_matrices(4, torch.Generator().manual_seed(1))
    power = centred_spectrum(rotate_volume(filtered, mats)).abs() ** 2
    power = power * (radial_frequency_grid((n, n, n)) < 0.25)

    def outside(matrices: torch.Tensor) -> torch.Tensor:
        rotated = rotate_centred_mask(mask, matrices) < 0.5
        return (power * rotated).sum(dim=(-3, -2, -1)) / power.sum(dim=(-3, -2, -1))

    right, wrong = outside(mats), outside(mats.transpose(1, 2))
    assert torch.all(right < 0.1)
    assert torch.all(right < 0.5 * wrong)


def test_midpoint_upsample_keeps_the_samples_and_is_exact_for_cubics_inside() -> None:
    volume = random(2, 1, 9, 10, 11, seed=6)
    up = midpoint_upsample(volume)
    assert up.shape == (2, 1, 17, 19, 21)
    assert torch.equal(up[..., ::2, ::2, ::2], volume)
    z, y, x = torch.meshgrid(
        *(torch.arange(n, dtype=torch.float64) for n in (8, 8, 8)), indexing="ij"
    )
    cubic = (0.5 * z**3 - 2 * y**2 * x + x**3 - 3 * z + 1).float()
    fine = torch.meshgrid(
        *(torch.arange(15, dtype=torch.float64) / 2 for _ in range(3)), indexing="ij"
    )
    expected = 0.5 * fine[0] ** 3 - 2 * fine[1] ** 2 * fine[2] + fine[2] ** 3 - 3 * fine[0] + 1
    inner = (slice(2, -2),) * 3  # the repeated edges make the first and last midpoints inexact
    assert torch.allclose(
        midpoint_upsample(cubic)[inner], expected.float()[inner], rtol=1e-5, atol=1e-3
    )


def test_fine_rotation_keeps_more_high_frequencies_and_fills_the_corners() -> None:
    n = 32
    volume = random(1, 1, n, n, n, seed=7)  # white noise: flat power before rotating
    batch = volume.expand(4, 1, n, n, n)
    mats = random_rotation_matrices(4, torch.Generator().manual_seed(2))
    radius = radial_frequency_grid((n, n, n))

    def band_power(rotated: torch.Tensor, low: float, high: float) -> float:
        power = centred_spectrum(rotated).abs() ** 2
        band = (radius > low) & (radius <= high)
        return float((power * band).sum() / band.sum() / rotated.shape[0])

    plain, fine = rotate_volume(batch, mats), rotate_volume(batch, mats, fine=True)
    for low, high in ((0.2, 0.3), (0.35, 0.5)):
        original = band_power(volume, low, high)
        assert band_power(fine, low, high) > 1.5 * band_power(plain, low, high)
        assert band_power(fine, low, high) < 1.05 * original  # no invented power
    assert band_power(fine, 0.2, 0.3) > 0.75 * band_power(volume, 0.2, 0.3)
    assert (plain == 0).float().mean() > 0.05  # the zero corners of the plain resampling
    assert (fine == 0).float().mean() < 1e-4
    eye = torch.eye(3).expand(1, 3, 3)
    assert torch.allclose(rotate_volume(volume, eye, fine=True), volume, atol=1e-5)
