"""evaluate: score maps against ground truth or half map against half map, as JSON lines.

Example:
    isonet.py evaluate --star sim/tomograms.star --column rlnCorrectedTomoName --ground_truth sim/ground_truth
    isonet.py evaluate a.mrc --reference b.mrc --tilt_min -60 --tilt_max 60

Every map and reference is checked (readable, equal shapes, pixel size known) before the
first score is computed. Per map: one JSON line on stdout and appended to
{output_dir}/evaluate.jsonl, and {output_dir}/{stem}_fsc.png (all, in-wedge and out-of-wedge
FSC); the numbers are those of `isonet2.evaluate.evaluate`.
"""  # noqa: E501 - whole command lines read best

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from isonet2.config import EvaluateConfig
from isonet2.errors import InputError
from isonet2.evaluate import evaluate
from isonet2.io.atomic import make_folder, remove_leftover_temps
from isonet2.io.mrc import list_volumes, open_volume, read_info
from isonet2.io.progress import counted
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import TomogramRow, check_path_column, missing_file, read_star
from isonet2.predict.pictures import save_fsc_png
from isonet2.preprocess.finite import require_finite_volume

logger = logging.getLogger(__name__)

JSONL_NAME = "evaluate.jsonl"
PLOTTED = ("all", "in wedge", "out of wedge")


@dataclass(frozen=True)
class Job:
    """One map, its reference, and the physics needed to score it."""

    map_path: Path
    reference_path: Path
    pixel_size_angstrom: float
    tilt_min_deg: float
    tilt_max_deg: float
    index: int | None = None
    """rlnIndex of the star row, None for a volume given directly."""


@dataclass
class EvaluateResult:
    """The metrics (one dict per map, as written to evaluate.jsonl) and the written files."""

    jsonl_path: Path
    metrics: list[dict[str, object]] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


MIN_SIDE_VOXELS = 8  # thinner maps have too few Fourier shells to give an FSC curve


def _tilts(cfg: EvaluateConfig, low: float, high: float, where: str) -> tuple[float, float]:
    low = low if cfg.tilt_min is None else cfg.tilt_min
    high = high if cfg.tilt_max is None else cfg.tilt_max
    if not -90 <= low < high <= 90:
        raise InputError(
            f"{where}: tilt range {low:g}..{high:g} needs -90 <= tilt_min < tilt_max <= 90; "
            "fix the star or give --tilt_min/--tilt_max"
        )
    return low, high


def _volume_job(cfg: EvaluateConfig, volume: str, reference: str) -> Job:
    pixel = cfg.pixel_size
    if pixel is None:
        pixel = read_info(volume).pixel_size_angstrom
        if not pixel > 0:
            raise InputError(f"{volume}: the MRC header has no pixel size; give --pixel_size <Å>")
    low, high = _tilts(cfg, TomogramRow.tilt_min_deg, TomogramRow.tilt_max_deg, volume)
    return Job(Path(volume), Path(reference), pixel, low, high)


def _column_path(row: TomogramRow, column: str, star: str) -> Path:
    path = row.path_in_column(column)
    if path is None:
        raise InputError(
            f"{star}: row {row.index} has no {column}; run the command that fills it "
            "(e.g. predict) or choose another --column"
        )
    if not Path(path).is_file():
        raise missing_file(f"{star}: row {row.index}, column {column}", path)
    return Path(path)


def _match_by_stem(stem: str, truths: dict[str, Path]) -> Path | None:
    """The ground truth whose stem is `stem` or starts it before an '_', the longest one."""
    hits = [name for name in truths if stem == name or stem.startswith(f"{name}_")]
    return truths[max(hits, key=len)] if hits else None


def _pair_ground_truth(
    ground_truth: str, maps: list[Path], positions: list[int], row_count: int
) -> list[Path]:
    """One ground-truth file per map: by stem, else by sorted name in star row order."""
    source = Path(ground_truth)
    if source.is_file():
        if len(maps) != 1:
            raise InputError(
                f"--ground_truth {source} is one file for {len(maps)} maps; give a folder or "
                "pick one row with --tomo_idx"
            )
        return [source]
    files = list_volumes(source)
    by_stem = [_match_by_stem(m.stem, {f.stem: f for f in files}) for m in maps]
    if all(by_stem):
        return [path for path in by_stem if path is not None]
    if len(files) != row_count:
        missing = maps[by_stem.index(None)]
        raise InputError(
            f"--ground_truth {source}: no file whose name starts {missing.name}, and its "
            f"{len(files)} files cannot pair by sorted name with the star's {row_count} rows"
        )
    logger.info("ground truth paired with the star rows by sorted name (stems do not match)")
    return [files[position] for position in positions]


def _star_jobs(cfg: EvaluateConfig, star: str) -> list[Job]:
    table = read_star(star)
    column = check_path_column(cfg.column)
    rows = table.select(cfg.selected_indices())
    maps = [_column_path(row, column, star) for row in rows]
    if cfg.reference_column is not None:
        reference_column = check_path_column(cfg.reference_column)
        references = [_column_path(row, reference_column, star) for row in rows]
    else:
        assert cfg.ground_truth is not None  # the config allows no third case
        order = {id(row): position for position, row in enumerate(table.rows)}
        positions = [order[id(row)] for row in rows]
        references = _pair_ground_truth(cfg.ground_truth, maps, positions, len(table.rows))
    jobs = []
    for row, map_path, reference in zip(rows, maps, references, strict=True):
        where = f"{star}: row {row.index}"
        low, high = _tilts(cfg, row.tilt_min_deg, row.tilt_max_deg, where)
        pixel = cfg.pixel_size if cfg.pixel_size is not None else row.pixel_size_angstrom
        jobs.append(Job(map_path, reference, pixel, low, high, row.index))
    return jobs


def _shown(angstrom: float) -> str:
    return f"{angstrom:.1f}" if math.isfinite(angstrom) else "never"


def _check_job(job: Job) -> None:
    if job.map_path.resolve() == job.reference_path.resolve():
        raise InputError(
            f"{job.map_path} would be scored against itself (its reference is the same file); "
            "give the ground truth or another map as the reference"
        )
    info, reference_info = read_info(job.map_path), read_info(job.reference_path)
    shape, reference_shape = info.shape, reference_info.shape
    sizes = (info.pixel_size_angstrom, reference_info.pixel_size_angstrom)
    if min(sizes) > 0 and abs(sizes[0] - sizes[1]) > 0.01 * max(sizes):
        logger.warning(
            "%s has %g Å voxels in its header but its reference %s has %g Å: scored voxel for "
            "voxel at %g Å; resample one if they are not one grid",
            job.map_path,
            sizes[0],
            job.reference_path,
            sizes[1],
            job.pixel_size_angstrom,
        )
    if min(shape) < MIN_SIDE_VOXELS:
        kind = "a 2D image" if 1 in shape else "too thin"
        raise InputError(
            f"{job.map_path}: shape {shape} (z, y, x) is {kind}, not a tomogram; evaluate "
            f"scores 3D maps of at least {MIN_SIDE_VOXELS} voxels a side"
        )
    if shape != reference_shape:
        raise InputError(
            f"{job.map_path} has shape {shape} but its reference {job.reference_path} has "
            f"{reference_shape} (z, y, x); a map and its reference must match voxel for voxel"
        )


def run(cfg: EvaluateConfig) -> EvaluateResult:
    """Score every map, print and append one JSON line each, and plot each FSC."""
    if cfg.star is not None:
        jobs = _star_jobs(cfg, cfg.star)
    else:
        assert cfg.volume is not None and cfg.reference is not None  # checked by the config
        jobs = [_volume_job(cfg, cfg.volume, cfg.reference)]
    for job in jobs:
        _check_job(job)
        for path in (job.map_path, job.reference_path):
            # a NaN made every score NaN, a blank map every score 0, with exit 0
            low, high = require_finite_volume(open_volume(path))
            if low == high:
                raise InputError(
                    f"{path}: every voxel is {low:g}; a blank map has nothing "
                    "to score or to score against (is it the right file?)"
                )
    output_dir = Path(cfg.output_dir)
    make_folder(output_dir, cfg.flag("output_dir"))
    owned = {f"{job.map_path.stem}_fsc.png" for job in jobs} | {"evaluate_config.json"}
    remove_leftover_temps(output_dir, owned.__contains__)  # a SIGKILLed run's plot temps
    write_run_config(cfg, output_dir / "evaluate_config.json")
    result = EvaluateResult(jsonl_path=output_dir / JSONL_NAME)
    for job in jobs:
        scores = evaluate(
            open_volume(job.map_path),
            open_volume(job.reference_path),
            pixel_size_angstrom=job.pixel_size_angstrom,
            tilt_min_deg=job.tilt_min_deg,
            tilt_max_deg=job.tilt_max_deg,
        )
        record: dict[str, object] = {
            "map": str(job.map_path),
            "reference": str(job.reference_path),
            "index": job.index,
            "pixel_size_angstrom": job.pixel_size_angstrom,
            "tilt_min_deg": job.tilt_min_deg,
            "tilt_max_deg": job.tilt_max_deg,
            **scores.as_dict(),
        }
        line = json.dumps(record)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        with result.jsonl_path.open("a") as stream:
            stream.write(line + "\n")
        curves = {name: scores.curves[name] for name in PLOTTED}
        plot = output_dir / f"{job.map_path.stem}_fsc.png"
        result.plots.append(save_fsc_png(curves, job.pixel_size_angstrom, plot))
        result.metrics.append(record)
        logger.info(
            "%s: correlation %.3f, mean FSC in/out of the wedge %.3f/%.3f, "
            "0.143 resolution Z/X %s/%s Å",
            job.map_path.name,
            scores.correlation,
            scores.mean_fsc_in_wedge,
            scores.mean_fsc_out_of_wedge,
            _shown(scores.resolution_z_angstrom),
            _shown(scores.resolution_x_angstrom),
        )
    logger.info("appended %s to %s", counted(len(jobs), "line"), result.jsonl_path)
    return result
