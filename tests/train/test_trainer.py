"""The trainer itself, called directly on a tiny synthetic set (no CLI):
split-halves sampling, numbered checkpoint names per half, and the per-epoch learning-rate and
noise-level schedule recorded in the history."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import isonet2.train.trainer as trainer_module
from isonet2.data.tomograms import open_tomogram_set
from isonet2.io.mrc import write_volume
from isonet2.io.star import TomogramRow
from isonet2.targets.settings import TargetSettings
from isonet2.train.distributed import DistributedContext
from isonet2.train.trainer import TrainSpec, train

CUBE = 32


def written(path: Path, data: np.ndarray) -> str:
    """`data` written as float32 MRC at `path`; the path as a star cell holds it."""
    write_volume(path, data.astype(np.float32))
    return str(path)


def spec_for(out: Path, **changes: object) -> TrainSpec:
    values: dict[str, object] = dict(
        output_dir=out,
        checkpoint_stem="network_test",
        arch="unet-small",
        cube_size=CUBE,
        epochs=1,
        batch_size=1,
        acc_batches=1,
        learning_rate=1e-3,
        learning_rate_min=1e-4,
        loss_func="L2",
        save_interval=10,
        mixed_precision=False,
        seed=0,
        num_workers=0,
        settings=TargetSettings(method="isonet2-n2n"),
        config={},
    )
    values.update(changes)
    return TrainSpec(**values)  # type: ignore[arg-type]


def cpu_context() -> DistributedContext:
    return DistributedContext(0, 1, 0, torch.device("cpu"))


class StopAtTheLoader(Exception):
    pass


def test_split_halves_train_only_on_cubes_inside_their_y_half(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--split_halves: the top network's cubes end by Y//2 and the bottom one's start there
    (else the two maps are not independent and the gold-standard FSC is inflated)."""
    rng = np.random.default_rng(0)
    shape = (CUBE, 2 * CUBE + 16, CUBE + 8)  # Y = 80: room for cubes in each half
    row = TomogramRow(
        index=1,
        half1_path=written(tmp_path / "e.mrc", rng.standard_normal(shape)),
        half2_path=written(tmp_path / "o.mrc", rng.standard_normal(shape)),
        number_subtomos=40,
    )
    tomoset = open_tomogram_set([row], source="halves", cube_size=CUBE)
    seen: list[np.ndarray] = []

    def spy(tomoset_: object, centres: np.ndarray, **kwargs: object) -> None:
        seen.append(np.asarray(centres))
        raise StopAtTheLoader

    monkeypatch.setattr(trainer_module, "CubeDataset", spy)
    middle = shape[1] // 2
    for half in ("top", "bottom"):
        seen.clear()
        spec = spec_for(tmp_path / half, y_half=half, suffix=half)
        with pytest.raises(StopAtTheLoader):
            train(spec, tomoset, cpu_context())
        y = seen[0][:, 2]
        first, last = y - CUBE // 2, y - CUBE // 2 + CUBE  # [first, last)
        if half == "top":
            assert (last <= middle).all(), (half, y.min(), y.max())
        else:
            assert (first >= middle).all(), (half, y.min(), y.max())


def test_numbered_checkpoints_of_the_two_halves_have_their_own_names(tmp_path: Path) -> None:
    """The top and bottom networks write numbered copies into one folder; one must not
    overwrite the other's."""
    top = spec_for(tmp_path, y_half="top", suffix="top")
    bottom = spec_for(tmp_path, y_half="bottom", suffix="bottom")
    assert top.epoch_path(10) != bottom.epoch_path(10)
    assert top.latest_path != bottom.latest_path
    assert len({top.epoch_path(10), top.epoch_path(20), top.latest_path}) == 3


def test_history_follows_the_cosine_rate_and_the_noise_schedule(tmp_path: Path) -> None:
    """One step per epoch, three epochs: the rate of the last step of each epoch is lr_max,
    the cosine midpoint (the mean of the two ends), then lr_min; each epoch logs the noise
    level whose (0-based) start epoch it has reached; the last epoch writes a preview."""
    rng = np.random.default_rng(1)
    shape = (CUBE + 4, CUBE + 4, CUBE + 4)
    row = TomogramRow(
        index=1,
        tomogram_path=written(tmp_path / "t.mrc", rng.standard_normal(shape)),
        number_subtomos=1,
    )
    tomoset = open_tomogram_set([row], source="single", cube_size=CUBE)
    spec = spec_for(
        tmp_path / "run",
        epochs=3,
        settings=TargetSettings(method="isonet2"),
        noise_levels=[0.1, 0.3],
        noise_start_epochs=[0, 1],
        save_interval=100,
        preview=lambda epoch, model, missing_only=False: previewed.append(epoch),
    )
    previewed: list[int] = []
    result = train(spec, tomoset, cpu_context())
    assert previewed == [3]  # the final epoch has a preview though 100 does not divide it
    rates = [record["learning_rate"] for record in result.history]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[1] == pytest.approx((1e-3 + 1e-4) / 2)
    assert rates[2] == pytest.approx(1e-4)
    assert [record["noise_level"] for record in result.history] == [0.1, 0.3, 0.3]
    assert all(math.isfinite(record["loss"]) for record in result.history)
