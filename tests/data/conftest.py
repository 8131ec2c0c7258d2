"""Tiny star rows for the data tests: even/odd or single maps, masks, box files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from isonet2.io.star import TomogramRow


def write_array(path: Path, data: np.ndarray) -> Path:
    """Write `data` as an MRC file in its own dtype (int8 for masks, float32 for maps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 1.0
    return path


@pytest.fixture
def array_mrc() -> Callable[[Path, np.ndarray], Path]:
    """array_mrc(path, data) -> path of an MRC file holding exactly `data` (its dtype kept)."""
    return write_array


@pytest.fixture
def halves_row(tmp_path: Path, make_mrc: Callable[..., Path]) -> Callable[..., TomogramRow]:
    """halves_row(index, shape, number_subtomos=10, mask=None) -> row with random even/odd."""

    def _make(
        index: int = 1,
        shape: tuple[int, int, int] = (16, 24, 24),
        number_subtomos: int = 10,
        mask: np.ndarray | None = None,
    ) -> TomogramRow:
        even = make_mrc(tmp_path / f"TS_{index:02d}_EVN.mrc", shape, seed=index)
        odd = make_mrc(tmp_path / f"TS_{index:02d}_ODD.mrc", shape, seed=100 + index)
        mask_path = None
        if mask is not None:
            mask_path = str(write_array(tmp_path / f"TS_{index:02d}_mask.mrc", mask))
        return TomogramRow(
            index=index,
            half1_path=str(even),
            half2_path=str(odd),
            pixel_size_angstrom=5.4,
            defocus_angstrom=30000.0,
            tilt_min_deg=-50.0,
            tilt_max_deg=65.0,
            number_subtomos=number_subtomos,
            mask_path=mask_path,
        )

    return _make
