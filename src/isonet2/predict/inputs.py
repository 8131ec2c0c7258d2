"""What prediction feeds the network for one star row: which volumes, their stats, the tile filter.

Example:
    plan = plan_row(row, method="isonet2-n2n", input_column=None)
    sources = open_sources(plan)                                   # [(memmap, (mean, std)), ...]
    filters = tile_filters_for(row, physics, cube=96, device=device, apply_mw_x1=True,
                               is_ctf_flipped=False, do_phaseflip_input=True)

Models trained on even/odd halves predict both halves and average them; single-map models
(or an explicit --input_column) predict one map. Tiles get the same treatment as training
inputs: the missing-wedge filter (apply_mw_x1) and, for CTF-aware models, sign(CTF).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isonet2.errors import InputError
from isonet2.fourier.ctf import phase_flip_filter
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.io.mrc import open_volume
from isonet2.io.star import (
    DECONV_COLUMN,
    HALF1_COLUMN,
    HALF2_COLUMN,
    TOMOGRAM_COLUMN,
    TomogramRow,
    check_path_column,
    missing_file,
)
from isonet2.predict.predictor import TileFilters
from isonet2.preprocess.normalize import usable_slab_stats

HALF_METHODS = ("n2n", "isonet2-n2n")


@dataclass(frozen=True)
class RowPlan:
    """The input files of one row and the name its output is derived from."""

    paths: tuple[Path, ...]
    stem: str


def plan_row(row: TomogramRow, *, method: str, input_column: str | None) -> RowPlan:
    """Choose the inputs of `row` for a model trained with `method`."""
    if input_column is None and method in HALF_METHODS and row.has_halves:
        paths = (Path(row.half1_path or ""), Path(row.half2_path or ""))
        for path, column in zip(paths, (HALF1_COLUMN, HALF2_COLUMN), strict=True):
            if not path.is_file():
                raise missing_file(f"star row {row.index}, column {column}", path)
        return RowPlan(paths, paths[0].stem)
    if input_column is not None:
        columns = [check_path_column(input_column)]
    else:
        columns = [DECONV_COLUMN, TOMOGRAM_COLUMN]
    for column in columns:
        value = row.path_in_column(column)
        if value:
            if not Path(value).is_file():
                raise missing_file(f"star row {row.index}, column {column}", value)
            return RowPlan((Path(value),), Path(value).stem)
    raise InputError(
        f"star row {row.index} has no tomogram in {' or '.join(columns)}"
        + (
            "; leave out --input_column to predict its even/odd halves"
            if row.has_halves and input_column is not None and method in HALF_METHODS
            else ""
            if row.has_halves
            else " and no even/odd halves"
        )
    )


def open_sources(plan: RowPlan) -> list[tuple[np.ndarray, tuple[float, float]]]:
    """Memory-map each input volume and compute its normalisation stats."""
    sources = [(open_volume(path), None) for path in plan.paths]
    shapes = {tuple(volume.shape) for volume, _ in sources}
    if len(shapes) != 1:
        raise InputError(f"{plan.paths[0]} and {plan.paths[1]} have different shapes")
    return [
        (volume, usable_slab_stats(volume, path))
        for (volume, _), path in zip(sources, plan.paths, strict=True)
    ]


def tile_filters_for(
    row: TomogramRow,
    physics: dict[str, Any],
    *,
    cube: int,
    device: torch.device,
    apply_mw_x1: bool,
    is_ctf_flipped: bool,
    do_phaseflip_input: bool,
) -> TileFilters:
    """The rfft-layout filters applied to every tile of `row` (None where nothing applies)."""
    shape = (cube, cube, cube)
    wedge: torch.Tensor | None = None
    if apply_mw_x1 and physics.get("method") != "n2n":
        wedge = missing_wedge_mask(
            shape, row.tilt_min_deg, row.tilt_max_deg, rfft=True, device=device
        )
    flips = (
        physics.get("ctf_mode", "None") != "None"
        and do_phaseflip_input
        and not is_ctf_flipped
        and row.defocus_angstrom > 0
    )
    sign = (
        phase_flip_filter(
            shape,
            row.pixel_size_angstrom,
            row.defocus_angstrom,
            row.voltage_kv,
            row.cs_mm,
            row.amplitude_contrast,
            rfft=True,
            device=device,
        )
        if flips
        else None
    )
    return TileFilters(phase_flip=sign, wedge=wedge)
