"""make_mask science: binning, the kept percentages, Z crop, upsampling and boundary polygons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from isonet2.errors import InputError
from isonet2.preprocess.mask import bin2, binned_mask, keep_top, make_mask, polygon_mask


def noise(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(4, 6, 8), (5, 7, 9)])
def test_bin2_is_the_mean_of_2x2x2_blocks(shape: tuple[int, int, int]) -> None:
    volume = noise(shape)
    padded = np.pad(volume, [(0, n % 2) for n in shape], mode="edge").astype(np.float64)
    expected = padded.reshape(
        padded.shape[0] // 2, 2, padded.shape[1] // 2, 2, padded.shape[2] // 2, 2
    ).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(bin2(volume), expected, rtol=1e-6)


@pytest.mark.parametrize("percentage", [1.0, 12.5, 50.0, 80.0, 99.8])
def test_keep_top_keeps_the_largest_values(percentage: float) -> None:
    values = np.random.default_rng(0).permutation(10_000).astype(np.float32)
    kept = keep_top(values, percentage)
    assert kept.sum() == int(np.ceil(10_000 * percentage / 100))
    assert values[kept].min() > values[~kept].max()


def test_percentage_above_99_8_disables_a_criterion() -> None:
    assert keep_top(np.arange(10.0), 99.9).all()
    binned = noise((10, 12, 12))
    everything = binned_mask(binned, patch_size=2, density_percentage=100, std_percentage=100)
    assert everything.all()


@pytest.mark.parametrize(("density", "std"), [(50.0, 100.0), (100.0, 80.0), (30.0, 100.0)])
def test_binned_mask_keeps_the_requested_percentage(density: float, std: float) -> None:
    binned = noise((40, 64, 64), seed=1)
    mask = binned_mask(binned, patch_size=4, density_percentage=density, std_percentage=std)
    assert mask.shape == binned.shape and mask.dtype == bool
    assert mask.mean() * 100 == pytest.approx(min(density, std), abs=1.0)


def test_both_criteria_must_hold() -> None:
    binned = noise((40, 64, 64), seed=2)
    density = binned_mask(binned, patch_size=3, density_percentage=50, std_percentage=100)
    std = binned_mask(binned, patch_size=3, density_percentage=100, std_percentage=50)
    both = binned_mask(binned, patch_size=3, density_percentage=50, std_percentage=50)
    np.testing.assert_array_equal(both, density & std)


def test_density_criterion_finds_dark_protein() -> None:
    volume = noise((24, 48, 48), seed=3) * 0.2
    volume[8:16, 16:32, 16:32] -= 3.0  # protein is dark
    binned = bin2(volume)
    mask = binned_mask(binned, patch_size=1, density_percentage=10, std_percentage=100)
    centre = mask[4:8, 8:16, 8:16]
    assert centre.mean() > 0.95 and mask.sum() < 1.2 * mask.size * 0.1


def test_make_mask_shape_dtype_crop_and_upsampling() -> None:
    volume = noise((41, 37, 51), seed=4)
    result = make_mask(volume, patch_size=2, density_percentage=60, std_percentage=70, z_crop=0.2)
    assert result.shape == volume.shape and result.dtype == np.int8
    assert set(np.unique(result)) <= {0, 1}
    crop = round(41 * 0.2 / 2)
    assert crop == 4
    assert not result[:crop].any() and not result[-crop:].any()
    expected = binned_mask(bin2(volume), patch_size=2, density_percentage=60, std_percentage=70)
    z, y, x = np.indices(volume.shape)
    nearest = expected[z // 2, y // 2, x // 2]
    np.testing.assert_array_equal(result[crop:-crop], nearest[crop:-crop])


@pytest.mark.parametrize("z_crop", [0.0, 0.5, 0.9])
def test_z_crop_zeroes_the_requested_fraction(z_crop: float) -> None:
    volume = noise((40, 16, 16), seed=5)
    result = make_mask(
        volume, patch_size=1, density_percentage=100, std_percentage=100, z_crop=z_crop
    )
    planes = result.reshape(40, -1).any(axis=1)
    assert planes.sum() == 40 - 2 * round(40 * z_crop / 2)


def test_polygon_mask_square_and_triangle() -> None:
    square = np.array([[2.5, 3.5], [7.5, 3.5], [7.5, 9.5], [2.5, 9.5]])
    inside = polygon_mask((12, 10), [square])
    expected = np.zeros((12, 10), dtype=bool)
    expected[4:10, 3:8] = True
    np.testing.assert_array_equal(inside, expected)
    triangle = np.array([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0]])
    area = polygon_mask((50, 50), [triangle]).sum()
    assert area == pytest.approx(40 * 40 / 2, rel=0.06)
    both = polygon_mask((50, 50), [triangle, square])
    assert both.sum() == area  # the square lies inside the triangle


def test_boundary_limits_every_slice() -> None:
    volume = noise((10, 20, 24), seed=6)
    boundary = np.zeros((20, 24), dtype=bool)
    boundary[5:15, 4:12] = True
    result = make_mask(
        volume,
        patch_size=1,
        density_percentage=100,
        std_percentage=100,
        z_crop=0.0,
        boundary_yx=boundary,
    )
    np.testing.assert_array_equal(result, np.broadcast_to(boundary, volume.shape))


def test_local_std_matches_a_direct_computation() -> None:
    binned = noise((12, 16, 16), seed=7) + 1000.0  # a large offset must not spoil the variance
    mask = binned_mask(binned, patch_size=1, density_percentage=100, std_percentage=40)
    smooth = ndimage.gaussian_filter(binned.astype(np.float64), 0.5)
    mean = ndimage.uniform_filter(smooth, 3)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(smooth**2, 3) - mean**2, 0))
    agree = (mask == keep_top(std, 40)).mean()
    assert agree > 0.995


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patch_size": 0, "density_percentage": 50, "std_percentage": 50},
        {"patch_size": 2, "density_percentage": 0, "std_percentage": 50},
        {"patch_size": 2, "density_percentage": 50, "std_percentage": 120},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        binned_mask(noise((4, 4, 4)), **kwargs)  # type: ignore[arg-type]


def test_a_constant_volume_is_refused_a_checkerboard_is_not() -> None:
    """Every criterion keeps every voxel of a constant map (81 % of an all-zero map was kept
    after z_crop). A checkerboard's 2x2x2 means are all equal too, but it is not constant."""
    settings = {"patch_size": 2, "density_percentage": 50, "std_percentage": 50, "z_crop": 0.0}
    with pytest.raises(InputError, match="every voxel is 0; the map is empty"):
        make_mask(np.zeros((8, 10, 12), np.float32), **settings)  # type: ignore[arg-type]
    checkerboard = (np.indices((8, 10, 12)).sum(axis=0) % 2).astype(np.float32)
    assert make_mask(checkerboard, **settings).shape == (8, 10, 12)  # type: ignore[arg-type]
