"""Cubes: normalised and contrast-inverted per volume, reproducible even/odd swap, batches."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from isonet2.data.batches import (
    CubeDataset,
    EpochBatches,
    leave_stops_to_the_trainer,
    make_loader,
    worker_start_context,
)
from isonet2.data.sampler import SubtomogramSampler
from isonet2.data.tomograms import open_tomogram_set
from isonet2.errors import InputError
from isonet2.io.star import TomogramRow

ArrayWriter = Callable[[Path, np.ndarray], Path]


def test_central_cube_is_standardised_and_inverted(tmp_path: Path, array_mrc: ArrayWriter) -> None:
    noise = np.random.default_rng(0).normal(5.0, 2.0, size=(80, 32, 32)).astype(np.float32)
    noise[40, 16, 16] = 50.0  # a bright voxel in the central slab
    row = TomogramRow(index=1, tomogram_path=str(array_mrc(tmp_path / "t.mrc", noise)))
    tomoset = open_tomogram_set([row], source="single", cube_size=16)
    mean, std = tomoset[0].stats[0]
    assert mean == pytest.approx(5.0, abs=0.05) and std == pytest.approx(2.0, abs=0.05)
    centres = np.array([[0, 40, 16, 16]])
    item = CubeDataset(tomoset, centres, seed=0, epoch=0)[0]
    cube = item["x"]
    assert cube.shape == (1, 16, 16, 16) and cube.dtype == torch.float32 and item["tomo"] == 0
    background = np.delete(cube.numpy().ravel(), 8 * 256 + 8 * 16 + 8)
    assert background.mean() == pytest.approx(0.0, abs=0.1)
    assert background.std() == pytest.approx(1.0, abs=0.1)
    bright = float(cube[0, 8, 8, 8])  # voxel (40, 16, 16) sits at the cube's centre
    assert bright == pytest.approx((mean - 50.0) / std, rel=1e-5) and bright < -10


def test_halves_swap_reproducibly(halves_row: Callable[..., TomogramRow]) -> None:
    tomoset = open_tomogram_set([halves_row(number_subtomos=40)], source="halves", cube_size=8)
    centres = SubtomogramSampler(tomoset, 8, seed=3).centres(0)
    dataset = CubeDataset(tomoset, centres, seed=3, epoch=0)
    even_volume = tomoset[0].halves[0]
    (even_mean, even_std), _ = tomoset[0].stats
    swapped = []
    for index in range(len(dataset)):
        item = dataset[index]
        assert set(item) == {"even", "odd", "tomo"} and item["odd"].shape == (1, 8, 8, 8)
        z, y, x = (int(v) - 4 for v in centres[index, 1:])
        raw = (even_mean - even_volume.crop((z, y, x), 8)) / even_std
        swapped.append(not np.allclose(item["even"][0].numpy(), raw, atol=1e-5))
        if swapped[-1]:  # the even cube moved to odd
            np.testing.assert_allclose(item["odd"][0].numpy(), raw, atol=1e-5)
    assert 0 < sum(swapped) < len(swapped)
    assert swapped == CubeDataset(tomoset, centres, seed=3, epoch=0).swap.tolist()
    assert swapped != CubeDataset(tomoset, centres, seed=3, epoch=1).swap.tolist()


def test_loader_batches_and_pickles(halves_row: Callable[..., TomogramRow]) -> None:
    tomoset = open_tomogram_set(
        [halves_row(1, number_subtomos=5), halves_row(2, number_subtomos=5)],
        source="halves",
        cube_size=8,
    )
    centres = SubtomogramSampler(tomoset, 8, seed=0).centres(0)
    dataset = CubeDataset(tomoset, centres, seed=0, epoch=0)
    copy = pickle.loads(pickle.dumps(dataset))
    torch.testing.assert_close(copy[3]["even"], dataset[3]["even"])
    batches = list(make_loader(dataset, 4, num_workers=0, pin_memory=False))
    assert len(batches) == 2
    assert batches[0]["even"].shape == (4, 1, 8, 8, 8) and batches[0]["tomo"].shape == (4,)
    torch.testing.assert_close(batches[1]["odd"][0], dataset[4]["odd"])
    with_workers = make_loader(dataset, 4, num_workers=1, pin_memory=False)
    assert not with_workers.persistent_workers  # no worker outlives its pass
    with pytest.raises(InputError, match="fewer than batch_size 16"):
        make_loader(dataset, 16, num_workers=0, pin_memory=False)


class _Cubes(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Item i is i; items from `bad` on raise the InputError a NaN voxel gives."""

    def __init__(self, bad: int) -> None:
        self.bad = bad

    def __len__(self) -> int:
        return 8

    def __getitem__(self, item: int) -> int:
        if item >= self.bad:
            raise InputError("t.mrc: voxel (z, y, x) = (1, 2, 3) is nan; replace it")
        return item


def _loader(bad: int) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
    return torch.utils.data.DataLoader(
        _Cubes(bad),
        batch_size=1,
        num_workers=2,
        multiprocessing_context=worker_start_context(),
        worker_init_fn=leave_stops_to_the_trainer,
    )


def test_an_input_error_in_a_loader_worker_comes_out_as_its_one_line() -> None:
    with pytest.raises(InputError) as raised, EpochBatches(_loader(bad=2)) as batches:
        for _ in batches:
            pass
    assert str(raised.value) == "t.mrc: voxel (z, y, x) = (1, 2, 3) is nan; replace it"
    assert raised.value.__context__ is None  # holds no traceback of the pass


def test_leaving_the_pass_ends_the_workers_though_the_iterator_lives_on() -> None:
    """A traceback can keep the loader's iterator past the command's end; its workers ignore
    the SIGTERM with which multiprocessing ends leftovers at exit, which then waited forever."""
    import multiprocessing

    with EpochBatches(_loader(bad=8)) as batches:
        next(batches)  # the workers are up; the pass ends early, as at a stop or an error
        workers = multiprocessing.active_children()
        assert workers
    kept = batches  # noqa: F841  (a reference, as a traceback would hold)
    assert not any(worker.is_alive() for worker in workers)


def test_even_and_odd_are_each_normalised_by_their_own_mean_and_std(
    tmp_path: Path, array_mrc: Callable[[Path, np.ndarray], Path]
) -> None:
    rng = np.random.default_rng(0)
    even = rng.normal(5.0, 2.0, size=(80, 32, 32)).astype(np.float32)
    odd = rng.normal(-3.0, 0.5, size=(80, 32, 32)).astype(np.float32)  # other scale, offset
    row = TomogramRow(
        index=1,
        half1_path=str(array_mrc(tmp_path / "e.mrc", even)),
        half2_path=str(array_mrc(tmp_path / "o.mrc", odd)),
    )
    tomoset = open_tomogram_set([row], source="halves", cube_size=16)
    item = CubeDataset(tomoset, np.array([[0, 40, 16, 16]]), seed=0, epoch=0)[0]
    for key in ("even", "odd"):
        cube = item[key].numpy()
        assert cube.mean() == pytest.approx(0.0, abs=0.1), key
        assert cube.std() == pytest.approx(1.0, abs=0.1), key
