"""A tiny training project: 2 tomograms with even/odd halves and full maps, defocus set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from isonet2.cli import run
from isonet2.io.star import read_star, write_star


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


@pytest.fixture
def train_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mrc_writer: Callable[..., Path]
) -> Path:
    """cwd = a project with tomograms.star (2 rows, 4 subtomograms each, 48³ volumes)."""
    monkeypatch.chdir(tmp_path)
    for i in range(2):
        signal = _blobs((48, 48, 48), i) * 5
        rng = np.random.default_rng(100 + i)
        even = signal + rng.standard_normal(signal.shape).astype(np.float32)
        odd = signal + rng.standard_normal(signal.shape).astype(np.float32)
        mrc_writer(tmp_path / "EVN" / f"t{i}_EVN.mrc", even, 10.0)
        mrc_writer(tmp_path / "ODD" / f"t{i}_ODD.mrc", odd, 10.0)
        mrc_writer(tmp_path / "full" / f"t{i}.mrc", even + odd, 10.0)
    code = run(
        [
            "prepare_star",
            "full",
            "-e",
            "EVN",
            "-o",
            "ODD",
            "--defocus",
            "30000",
            "--number_subtomos",
            "4",
            "--pixel_size",
            "10",
        ]
    )
    assert code == 0
    return tmp_path


@pytest.fixture
def halves_only(train_project: Path) -> Path:
    """The same project without full maps."""
    table = read_star("tomograms.star")
    for row in table.rows:
        row.tomogram_path = None
    write_star(table, "tomograms.star")
    return train_project
