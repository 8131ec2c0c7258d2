"""make_mask: 0/1 specimen masks of the star's tomograms into rlnMaskName.

Example:
    isonet.py make_mask tomograms.star
    isonet.py make_mask tomograms.star --maskfolder mask --densitypercentage 50 --zcrop 0.2

Each row's tomogram comes from --input_column (rlnDeconvTomoName by default); where that cell is
empty, from rlnTomoName, then from the even half. A row with rlnMaskBoundary (an IMOD model of
a polygon drawn on the top view) keeps only the voxels inside it; reading the model needs IMOD's
model2point on the PATH. Masks `{output_dir}/{stem}_mask.mrc` are int8 (MRC mode 0), written
atomically, and the star is rewritten after each one.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isonet2.config import MakeMaskConfig
from isonet2.errors import InputError
from isonet2.io.mrc import new_volume, open_volume, read_info, require_tomogram
from isonet2.io.progress import counted, progress_bar
from isonet2.io.star import (
    HALF1_COLUMN,
    MASK_COLUMN,
    TOMOGRAM_COLUMN,
    TomogramRow,
    check_path_column,
    read_star,
    write_star,
)
from isonet2.pipeline.deconv import check_unique_outputs, input_path, start_output_folder
from isonet2.preprocess.mask import make_mask, polygon_mask

logger = logging.getLogger(__name__)

MODEL2POINT = "model2point"


@dataclass
class MakeMaskResult:
    """The updated star and the masks, in the order of the rows processed."""

    star_path: Path
    outputs: list[Path] = field(default_factory=list)


def mask_source(row: TomogramRow, column: str, star_path: Path) -> tuple[str, Path]:
    """(column used, tomogram path): the first non-empty cell of column, rlnTomoName, Half1."""
    candidates = list(dict.fromkeys((column, TOMOGRAM_COLUMN, HALF1_COLUMN)))
    for candidate in candidates:
        if row.path_in_column(candidate) is not None:
            return candidate, input_path(row, candidate, star_path)
    raise InputError(
        f"{star_path}: row {row.index} has no tomogram in {', '.join(candidates)}; "
        "fill one of these columns"
    )


def read_boundary(model: Path, star_path: Path, row: TomogramRow) -> list[np.ndarray]:
    """The (x, y) polygons of an IMOD model, one per contour, read through model2point."""
    where = f"{star_path}: row {row.index}, rlnMaskBoundary {model}"
    executable = shutil.which(MODEL2POINT)
    if executable is None:
        raise InputError(
            f"{where}: {MODEL2POINT} (IMOD) is needed to read it and is not on the PATH; add "
            "IMOD to the PATH or clear rlnMaskBoundary (set it to None)"
        )
    if not model.is_file():
        raise InputError(f"{where}: no such file; fix the path or set it to None")
    with tempfile.TemporaryDirectory() as folder:
        points_file = Path(folder) / "boundary.txt"
        command = [executable, "-float", "-object", "-input", str(model), "-output"]
        done = subprocess.run(
            [*command, str(points_file)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or not points_file.is_file():
            message = (done.stderr or done.stdout).strip().splitlines()
            raise InputError(f"{where}: {MODEL2POINT} failed ({message[-1] if message else ''})")
        text = points_file.read_text()
    contours: dict[tuple[str, ...], list[tuple[float, float]]] = {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        try:
            x, y = float(words[-3]), float(words[-2])
        except (IndexError, ValueError):
            raise InputError(f"{where}: unexpected {MODEL2POINT} output line '{line}'") from None
        contours.setdefault(tuple(words[:-3]), []).append((x, y))
    if not contours or any(len(points) < 3 for points in contours.values()):
        raise InputError(f"{where}: every contour needs at least 3 points; draw a polygon in 3dmod")
    return [np.asarray(points) for points in contours.values()]


def run(cfg: MakeMaskConfig) -> MakeMaskResult:
    """Make a mask for each selected row and record it in rlnMaskName."""
    star_path = Path(cfg.star_file)
    table = read_star(star_path)
    column = check_path_column(cfg.input_column)
    rows = table.select(cfg.selected_indices())
    sources = [mask_source(row, column, star_path) for row in rows]
    infos = [require_tomogram(read_info(path)) for _, path in sources]
    output_dir = Path(cfg.output_dir)
    outputs = [output_dir / f"{path.stem}_mask.mrc" for _, path in sources]
    check_unique_outputs(outputs, star_path, table, MASK_COLUMN, cfg.flag("output_dir"))
    boundaries = [
        read_boundary(Path(row.mask_boundary_path), star_path, row)
        if row.mask_boundary_path
        else None
        for row in rows
    ]
    start_output_folder(cfg, output_dir, outputs, "make_mask_config.json")

    work = list(zip(rows, sources, infos, boundaries, outputs, strict=True))
    for row, (used, path), info, boundary, target in progress_bar(
        work, desc="make_mask", unit="tomo"
    ):
        logger.info("tomogram %d: mask of %s (from %s) -> %s", row.index, path, used, target)
        boundary_yx = polygon_mask((info.shape[1], info.shape[2]), boundary) if boundary else None
        with new_volume(
            target,
            info.shape,
            dtype=np.int8,
            voxel_size_angstrom=info.voxel_size_angstrom,
            origin_angstrom=info.origin_angstrom,
        ) as out:
            make_mask(
                open_volume(path),
                patch_size=cfg.patch_size,
                density_percentage=cfg.density_percentage,
                std_percentage=cfg.std_percentage,
                z_crop=cfg.z_crop,
                boundary_yx=boundary_yx,
                out=out,
            )
            if not np.any(out):  # refine would refuse it later; say why here, keep no file
                raise InputError(
                    f"the mask of {path} keeps no voxel; lower --z_crop ({cfg.z_crop}) or raise "
                    f"--density_percentage ({cfg.density_percentage}) or --std_percentage "
                    f"({cfg.std_percentage})"
                    + (", or draw the boundary around the sample" if boundary else "")
                )
        row.mask_path = str(target)
        write_star(table, star_path)
    logger.info("wrote %s into %s; updated %s", counted(len(rows), "mask"), output_dir, star_path)
    return MakeMaskResult(star_path=star_path, outputs=outputs)
