"""Tiny synthetic data shared by the tests; nothing binary is checked in."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def write_mrc(path: Path, data: np.ndarray, voxel_size: float = 1.0) -> Path:
    """Write a small MRC file with the plain mrcfile API (independent of isonet2.io)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.asarray(data, dtype=np.float32))
        mrc.voxel_size = voxel_size
    return path


@pytest.fixture(scope="session")
def mrc_writer() -> Callable[..., Path]:
    """write_mrc(path, data, voxel_size=1.0) -> path."""
    return write_mrc


@pytest.fixture
def make_mrc() -> Callable[..., Path]:
    """make_mrc(path, shape=(8, 16, 16), voxel_size=1.0, seed=0) -> path of a random volume."""

    def _make(
        path: Path, shape: tuple[int, ...] = (8, 16, 16), voxel_size: float = 1.0, seed: int = 0
    ) -> Path:
        data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        return write_mrc(path, data, voxel_size)

    return _make


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_mrc: Callable[..., Path]) -> Path:
    """A project folder (the cwd) with tomograms/EVN, tomograms/ODD (5 pairs) and full maps."""
    monkeypatch.chdir(tmp_path)
    for i in range(1, 6):
        make_mrc(tmp_path / "tomograms" / "EVN" / f"TS_{i:02d}_EVN.mrc", seed=i, voxel_size=5.4)
        make_mrc(
            tmp_path / "tomograms" / "ODD" / f"TS_{i:02d}_ODD.mrc", seed=10 + i, voxel_size=5.4
        )
        make_mrc(tmp_path / "full" / f"TS_{i:02d}.rec", seed=20 + i, voxel_size=7.0)
    return tmp_path
