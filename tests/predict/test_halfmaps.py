"""Independent half maps of a split_halves pair: which network sees which half, and where."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from isonet2.evaluate import central_crop
from isonet2.fourier.fsc import central_bounds
from isonet2.predict.halfmaps import independent_half_maps
from isonet2.predict.predictor import TilePredictor


class Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


def test_the_first_network_sees_only_the_even_half_and_the_second_only_the_odd() -> None:
    rng = np.random.default_rng(0)
    even, odd = (rng.standard_normal((40, 48, 56)).astype(np.float32) for _ in range(2))
    predictors = [
        TilePredictor(Scale(factor), 16, torch.device("cpu"), batch_size=4) for factor in (1, 2)
    ]
    first, second = independent_half_maps(
        predictors, [(even, (0.0, 1.0)), (odd, (0.0, 1.0))], filters=None, max_side=24
    )
    # the block evaluate's FSC reads, the margin around it only feeding the border tiles
    np.testing.assert_allclose(first, central_crop(even, 24), atol=1e-5)
    np.testing.assert_allclose(second, 2 * central_crop(odd, 24), atol=1e-5)


@pytest.mark.parametrize("order", [("top", "bottom"), ("bottom", "top")])
def test_each_y_half_is_predicted_by_the_network_that_did_not_train_on_it(
    order: tuple[str, str],
) -> None:
    rng = np.random.default_rng(1)
    even, odd = (rng.standard_normal((40, 48, 56)).astype(np.float32) for _ in range(2))
    factor = {"top": 1.0, "bottom": 2.0}  # the network trained on the top half multiplies by 1
    predictors = [
        TilePredictor(Scale(factor[half]), 16, torch.device("cpu"), batch_size=4) for half in order
    ]
    maps = independent_half_maps(
        predictors, [(even, (0.0, 1.0)), (odd, (0.0, 1.0))], None, 24, trained_on=order
    )
    for got, volume in zip(maps, (even, odd), strict=True):
        crop = central_crop(volume, 24)  # Y 12..35; the halves meet at Y 24 (crop row 12)
        np.testing.assert_allclose(got[:, :12], 2 * crop[:, :12], atol=1e-5)  # top: bottom's net
        np.testing.assert_allclose(got[:, 12:], crop[:, 12:], atol=1e-5)  # bottom: top's net


def test_a_volume_smaller_than_the_crop_is_predicted_whole() -> None:
    assert central_bounds((10, 300, 256), 256) == [(0, 10), (22, 278), (0, 256)]
    with pytest.raises(ValueError, match="two predictors and two sources"):
        independent_half_maps([], [], None, 24)  # type: ignore[arg-type]


class TileMean(torch.nn.Module):
    """Non-local: every output voxel is its tile's mean, so a tile's output depends on all of it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-3, -2, -1), keepdim=True).expand_as(x).clone()


def half_maps(even: np.ndarray, odd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictors = [TilePredictor(TileMean(), 16, torch.device("cpu"), batch_size=4) for _ in "ab"]
    return independent_half_maps(
        predictors, [(even, (0.0, 1.0)), (odd, (0.0, 1.0))], filters=None, max_side=24
    )


def test_border_tiles_see_the_real_data_around_the_crop() -> None:
    rng = np.random.default_rng(7)
    even, odd = (rng.standard_normal((40, 48, 56)).astype(np.float32) for _ in range(2))
    first, _ = half_maps(even, odd)
    # the crop is Z 8..31, Y 12..35, X 16..39; change only the 8 voxels (half a tile) before it
    # in X, leaving the crop itself untouched
    changed = even.copy()
    changed[8:32, 12:36, 8:16] += 5.0
    moved, _ = half_maps(changed, odd)
    assert np.abs(moved - first).max() > 0.1
    # data beyond half a tile from the crop is never read
    far = even.copy()
    far[:, :, :8] += 5.0
    np.testing.assert_array_equal(half_maps(far, odd)[0], first)
