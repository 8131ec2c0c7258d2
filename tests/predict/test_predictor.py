"""The streaming predictor: identity in, identity out; averaging of halves; bounded buffers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.predict.predictor import TileFilters, TilePredictor


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Doubler(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


@pytest.mark.parametrize("shape", [(19, 23, 29), (16, 16, 16), (7, 40, 9)])
@pytest.mark.parametrize("padding", [1.0, 1.5, 2.0])
def test_identity_network_returns_the_input(shape: tuple[int, int, int], padding: float) -> None:
    volume = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = np.full(shape, np.nan, np.float32)
    predictor = TilePredictor(
        Identity(), 16, torch.device("cpu"), batch_size=3, padding_factor=padding
    )
    predictor.predict_into(out, [(volume, (0.0, 1.0))])
    np.testing.assert_allclose(out, volume, atol=1e-5)


def test_normalisation_and_half_averaging() -> None:
    rng = np.random.default_rng(1)
    even = rng.standard_normal((17, 20, 21)).astype(np.float32) * 3 + 5
    odd = rng.standard_normal((17, 20, 21)).astype(np.float32) * 2 - 1
    out = np.zeros(even.shape, np.float32)
    predictor = TilePredictor(Doubler(), 16, torch.device("cpu"), batch_size=4)
    predictor.predict_into(out, [(even, (5.0, 3.0)), (odd, (-1.0, 2.0))])
    expected = 0.5 * (2 * (even - 5) / 3 + 2 * (odd + 1) / 2)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_all_ones_filter_is_identity_and_wedge_filter_removes_the_wedge() -> None:
    volume = np.random.default_rng(2).standard_normal((32, 32, 32)).astype(np.float32)
    out = np.zeros_like(volume)
    predictor = TilePredictor(Identity(), 32, torch.device("cpu"), batch_size=2, padding_factor=1.0)
    predictor.predict_into(out, [(volume, (0.0, 1.0))], TileFilters(wedge=torch.ones(32, 32, 17)))
    np.testing.assert_allclose(out, volume, atol=1e-5)
    wedge = missing_wedge_mask((32, 32, 32), -60, 60).numpy()
    predictor.predict_into(out, [(volume, (0.0, 1.0))], TileFilters(wedge=torch.from_numpy(wedge)))
    power = np.abs(np.fft.fftshift(np.fft.fftn(out))) ** 2
    assert power[wedge == 0].sum() < 1e-6 * power.sum()


def test_progress_counts_every_tile() -> None:
    seen: list[int] = []
    volume = np.zeros((20, 20, 20), np.float32)
    predictor = TilePredictor(Identity(), 16, torch.device("cpu"), batch_size=5)
    predictor.predict_into(np.zeros_like(volume), [(volume, (0.0, 1.0))] * 2, progress=seen.append)
    per_axis = 2  # stride 11 (16/1.5), margin 2: starts -2 and 9 cover the 20 voxels
    assert sum(seen) == 2 * per_axis**3


class Mixer(torch.nn.Module):
    """Each output voxel depends on the whole tile, so a wrongly blended seam would show."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, 1, dims=2) + x.mean(dim=(2, 3, 4), keepdim=True) * x


@pytest.mark.parametrize("cuts", [(0, 23), (0, 9, 23), (0, 1, 2, 14, 14, 23)])
def test_z_slabs_written_apart_equal_the_whole_volume(cuts: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    sources = [(rng.standard_normal((23, 17, 19)).astype(np.float32), (0.5, 2.0))] * 2
    predictor = TilePredictor(Mixer(), 8, torch.device("cpu"), batch_size=3)
    whole = np.zeros((23, 17, 19), np.float32)
    predictor.predict_into(whole, sources)
    apart = np.full_like(whole, np.nan)
    for z_start, z_stop in itertools.pairwise(cuts):
        predictor.predict_into(apart, sources, z_range=(z_start, z_stop))
        assert np.isnan(apart[z_stop:]).all()  # nothing written past the slab
    np.testing.assert_array_equal(apart, whole)


def test_a_huge_batch_size_holds_no_more_than_one_z_row_of_tiles() -> None:
    """--batch_size 10**9 once allocated 10**9 tiles (an overflow, or the machine's memory)."""
    volume = np.random.default_rng(0).standard_normal((16, 32, 32)).astype(np.float32)
    out = np.full(volume.shape, np.nan, np.float32)
    predictor = TilePredictor(Identity(), 16, torch.device("cpu"), batch_size=10**9)
    predictor.predict_into(out, [(volume, (0.0, 1.0))])
    np.testing.assert_allclose(out, volume, atol=1e-5)


def test_channels_last_weights_predict_what_the_default_layout_predicts() -> None:
    from isonet2.nn.registry import build_model
    from isonet2.train.trainer import training_network

    def channels_last(model: torch.nn.Module) -> bool:
        convs = [p for p in model.parameters() if p.dim() == 5]
        return bool(convs) and all(
            p.is_contiguous(memory_format=torch.channels_last_3d) for p in convs
        )

    torch.manual_seed(0)
    trained = training_network("unet-small", torch.device("cpu"), 1).eval()  # as refine has it
    plain = build_model("unet-small").eval()
    plain.load_state_dict(trained.state_dict())
    assert channels_last(trained) and not channels_last(plain)
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.no_grad():
        expected, got = plain(x), trained(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))

    predictor = TilePredictor(plain, 16, torch.device("cpu"), batch_size=4)
    assert predictor.model is plain and channels_last(plain)  # the predictor's layout


class Recorder(Identity):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return x.clone()


def test_identity_network_round_trips_through_the_quantile_scaling() -> None:
    rng = np.random.default_rng(4)
    volume = (rng.standard_normal((20, 24, 22)) * 3 + 5).astype(np.float32)
    out = np.zeros_like(volume)
    TilePredictor(Identity(), 16, torch.device("cpu"), 4, per_tile_quantiles=True).predict_into(
        out, [(volume, (5.0, 3.0))]
    )
    np.testing.assert_allclose(out, (volume - 5.0) / 3.0, atol=1e-4)


def test_the_network_sees_tiles_scaled_to_their_own_quantiles() -> None:
    rng = np.random.default_rng(5)
    volume = (rng.standard_normal((20, 24, 22)) * 3 + 5).astype(np.float32)
    model = Recorder()
    predictor = TilePredictor(model, 16, torch.device("cpu"), 4, per_tile_quantiles=True)
    predictor.predict_into(np.zeros_like(volume), [(volume, (5.0, 3.0))])
    tiles = [t.numpy().ravel() for batch in model.seen for t in batch[:, 0]]
    tiles = [t for t in tiles if t.std() > 0]  # batches are padded with empty (constant) tiles
    assert tiles
    for t in tiles:
        assert abs(np.quantile(t, 0.04, method="nearest")) < 1e-5
        assert abs(np.quantile(t, 0.96, method="nearest") - 1.0) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_prediction_with_channels_last_weights_matches_the_cpu() -> None:
    from isonet2.nn.registry import build_model

    torch.manual_seed(0)
    cpu_model = build_model("unet-small").eval()
    gpu_model = build_model("unet-small").eval()
    gpu_model.load_state_dict(cpu_model.state_dict())
    volume = np.random.default_rng(3).standard_normal((40, 48, 44)).astype(np.float32)
    maps = []
    for model, device in ((cpu_model, "cpu"), (gpu_model, "cuda")):
        out = np.zeros_like(volume)
        TilePredictor(model, 32, torch.device(device), batch_size=4).predict_into(
            out, [(volume, (0.0, 1.0))]
        )
        maps.append(out)
    assert next(gpu_model.parameters()).is_cuda
    # the network is residual: compare what it adds (cuDNN may use TF32 for fp32 convolutions)
    added = maps[0] - volume
    assert np.linalg.norm(maps[1] - maps[0]) < 0.01 * np.linalg.norm(added)
