"""Central-slab statistics and the contrast-inverted normalisation."""

from pathlib import Path

import numpy as np
import pytest
import torch

from isonet2.errors import InputError
from isonet2.preprocess.normalize import (
    central_slab_stats,
    normalize_inverted,
    streamed_mean_std,
)


class RecordingVolume:
    """A (z, y, x) array that records which Z slices are read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.ndim, self.shape, self.size = data.ndim, data.shape, data.size
        self.read: list[int] = []

    def __getitem__(self, z: int) -> np.ndarray:
        self.read.append(z)
        return self.data[z]


def test_stats_use_exactly_slices_20_to_79_of_100() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(1e4, 1e3, size=(100, 6, 7)).astype(np.float32)
    recorder = RecordingVolume(data)
    mean, std = central_slab_stats(recorder)
    assert recorder.read == list(range(20, 80))
    slab = data[20:80].astype(np.float64)
    assert mean == pytest.approx(slab.mean(), rel=1e-12)
    assert std == pytest.approx(slab.std(), rel=1e-9)


def test_thin_volume_uses_every_slice() -> None:
    data = np.random.default_rng(1).normal(size=(40, 5, 5)).astype(np.float32)
    mean, std = central_slab_stats(data)
    assert mean == pytest.approx(data.astype(np.float64).mean(), abs=1e-12)
    assert std == pytest.approx(data.astype(np.float64).std(), rel=1e-9)


def test_stats_of_a_memmap(tmp_path: Path) -> None:
    data = np.random.default_rng(2).normal(size=(70, 8, 8)).astype(np.float32)
    path = tmp_path / "volume.raw"
    data.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="r", shape=data.shape)
    assert central_slab_stats(mapped) == pytest.approx(central_slab_stats(data[5:65].copy()))


def test_normalize_inverted_numpy_and_torch() -> None:
    cube = np.arange(8, dtype=np.float64).reshape(2, 2, 2)
    out = normalize_inverted(cube, 3.0, 2.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (3.0 - cube) / 2.0)
    tensor_out = normalize_inverted(torch.from_numpy(cube), 3.0, 2.0)
    assert tensor_out.dtype == torch.float32
    assert torch.allclose(tensor_out, torch.from_numpy(out))


@pytest.mark.parametrize("std", [0.0, float("nan")])
def test_normalize_rejects_degenerate_std(std: float) -> None:
    with pytest.raises(InputError):
        normalize_inverted(np.zeros((2, 2, 2)), 0.0, std)


def test_streamed_mean_std_equals_the_whole_arrays_moments() -> None:
    rng = np.random.default_rng(4)
    # uneven blocks far from zero: a running sum of squares would lose digits here
    blocks = [rng.normal(1e4, 3.0, size=n) for n in (1, 17, 500, 2)]
    whole = np.concatenate(blocks)
    mean, std = streamed_mean_std(iter(blocks))
    assert mean == pytest.approx(whole.mean(), rel=1e-12)
    assert std == pytest.approx(whole.std(), rel=1e-9)
    with pytest.raises(ValueError, match="no values"):
        streamed_mean_std(iter([]))


def test_the_loader_normalisation_is_the_float32_formula_bit_for_bit() -> None:
    """Rewritten for speed (float32 scalars, in place): the values must not move at all, and
    the memory-mapped input must stay untouched."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        cube = (rng.standard_normal((16, 20, 24)) * rng.uniform(0.1, 100) + 7).astype(np.float32)
        before = cube.copy()
        mean, std = float(rng.uniform(-50, 50)), float(rng.uniform(0.1, 100))
        expected = ((mean - cube) / std).astype(np.float32)
        result = normalize_inverted(cube, mean, std)
        assert result.dtype == np.float32 and np.array_equal(result, expected)
        assert np.array_equal(cube, before)
