"""A tiny training project: 2 tomograms with even/odd halves and full maps, defocus set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from isonet2.cli import run
from isonet2.io.star import read_star, write_star
from isonet2.predict.predictor import TilePredictor


def _blobs(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Smooth random structure, so there is something to learn."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape)
    spectrum = np.fft.rfftn(noise)
    kz, ky = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    kx = np.fft.rfftfreq(shape[2])
    k = np.sqrt(kz[..., None] ** 2 + ky[..., None] ** 2 + kx[None, None, :] ** 2)
    smooth = spectrum * np.exp(-((k / 0.08) ** 2))
    return np.fft.irfftn(smooth, s=shape, axes=(0, 1, 2)).astype(np.float32)


def fill_train_project(folder: Path, write_mrc: Callable[..., Path]) -> None:
    """Write the tiny project into `folder`, which must be the working directory."""
    for i in range(2):
        signal = _blobs((48, 48, 48), i) * 5
        rng = np.random.default_rng(100 + i)
        even = signal + rng.standard_normal(signal.shape).astype(np.float32)
        odd = signal + rng.standard_normal(signal.shape).astype(np.float32)
        write_mrc(folder / "EVN" / f"t{i}_EVN.mrc", even, 10.0)
        write_mrc(folder / "ODD" / f"t{i}_ODD.mrc", odd, 10.0)
        write_mrc(folder / "full" / f"t{i}.mrc", even + odd, 10.0)
    line = "prepare_star full -e EVN -o ODD --defocus 30000 --number_subtomos 4 --pixel_size 10"
    assert run(line.split()) == 0


@pytest.fixture
def train_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mrc_writer: Callable[..., Path]
) -> Path:
    """cwd = a project with tomograms.star (2 rows, 4 subtomograms each, 48³ volumes)."""
    monkeypatch.chdir(tmp_path)
    fill_train_project(tmp_path, mrc_writer)
    return tmp_path


@pytest.fixture(scope="module")
def one_epoch_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, mrc_writer: Callable[..., Path]
) -> Path:
    """A one-epoch refine of the tiny project (unet-small, 32³), trained once per test module
    that asks for it (about 6 s each time)."""
    folder = tmp_path_factory.mktemp("trained_once")
    line = "refine tomograms.star -o 01_test --epochs 1 --cube_size 32 --arch unet-small"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        fill_train_project(folder, mrc_writer)
        assert run([*line.split(), "--ncpus", "0", "--with_preview", "False"]) == 0
    return folder / "01_test" / "network_isonet2-n2n_unet-small_32_full.pt"


@pytest.fixture
def halves_only(train_project: Path) -> Path:
    """The same project without full maps."""
    table = read_star("tomograms.star")
    for row in table.rows:
        row.tomogram_path = None
    write_star(table, "tomograms.star")
    return train_project


@pytest.fixture
def tiles_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tile predictor (predict's, the training preview's) lays its tiles side by side
    (padding_factor 1): 8 tiles for a 48³ or 64³ map instead of 27, for tests about anything
    but the blending of overlapping tiles (tests/predict tests that)."""
    make_predictor = TilePredictor.__init__

    def side_by_side(self: TilePredictor, *args: Any, **kwargs: Any) -> None:
        make_predictor(self, *args, **kwargs)
        self.padding_factor = 1.0

    monkeypatch.setattr(TilePredictor, "__init__", side_by_side)
