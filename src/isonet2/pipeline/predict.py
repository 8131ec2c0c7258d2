"""predict: apply a trained network to whole tomograms, streamed tile by tile.

Example:
    isonet.py predict tomograms.star 01_test/network_isonet2-n2n_unet-medium_96_full.pt --gpuID 0

Writes {output_dir}/{prefix}{stem}_{method}_{arch}.mrc per tomogram (voxel size kept) and
records it in rlnCorrectedTomoName (rlnDenoisedTomoName for denoise models). With --model2
(the _bottom.pt of split_halves) a second, independent map is written and the FSC between
the two maps is plotted and reported. With --gpuID 0,1 (or --cpu_workers 2 on the CPU) one
worker per GPU predicts its share of the Z slices of every map straight into the shared
output files (predict/sharing.py); the command also runs as the workers of an outer torchrun.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isonet2.config import PredictConfig
from isonet2.errors import InputError
from isonet2.evaluate import MAX_FSC_SIDE, central_crop
from isonet2.fourier.fsc import fourier_shell_correlation, resolution_at_threshold
from isonet2.io.atomic import name_fits_with_temp
from isonet2.io.checkpoint import load_checkpoint
from isonet2.io.mrc import VolumeInfo, new_volume, open_volume, read_info, require_tomogram
from isonet2.io.pages import release_pages, return_freed_memory_promptly
from isonet2.io.progress import counted, progress_bar
from isonet2.io.star import (
    CORRECTED_COLUMN,
    DENOISED_COLUMN,
    StarTable,
    TomogramRow,
    read_star,
    write_star,
)
from isonet2.nn.registry import model_from_checkpoint
from isonet2.nn.symmetry import Flips, RotationAverage, wedge_preserving_rotations
from isonet2.pipeline.deconv import check_unique_outputs, start_output_folder
from isonet2.pipeline.training import launch, worker_context
from isonet2.predict.halfmaps import independent_half_maps
from isonet2.predict.inputs import RowPlan, open_sources, plan_row, tile_filters_for
from isonet2.predict.pictures import save_fsc_png
from isonet2.predict.predictor import Source, TileFilters, TilePredictor
from isonet2.predict.sharing import Slab, share_slabs, shared_outputs
from isonet2.predict.tiling import TileGrid
from isonet2.train.devices import autocast_dtype
from isonet2.train.distributed import DistributedContext, spans_nodes

logger = logging.getLogger(__name__)

ROWS_PER_RANK_AND_ROUND = 4  # several workers: tomograms per rank between two meetings


@dataclass
class PredictResult:
    """The written maps (and second maps of --model2) and the half-map FSC resolutions (Å)."""

    outputs: list[Path] = field(default_factory=list)
    second_outputs: list[Path] = field(default_factory=list)
    resolutions_angstrom: dict[int, float] = field(default_factory=dict)


def _load(path: str, device: torch.device) -> tuple[dict, torch.nn.Module]:
    ckpt = load_checkpoint(path)
    return ckpt, model_from_checkpoint(ckpt, source=path).to(device).eval()


def run(cfg: PredictConfig) -> PredictResult:
    """Predict the selected rows of the star and record the outputs in it.

    One worker per GPU of --gpuID (or --cpu_workers on the CPU), or this process alone; the
    result is rank 0's.
    """
    if cfg.model2 is not None and Path(cfg.model2).resolve() == Path(cfg.model).resolve():
        raise InputError(
            f"--model2 {cfg.model2} is the --model itself: the two maps and their FSC would be "
            "one network's; give the other half-network of --split_halves (_bottom.pt)"
        )
    return launch(cfg, predict_worker)


def predict_worker(config: dict[str, object], devices: list[torch.device]) -> PredictResult:
    """One worker (or the only process): predict its share; rank 0 records the outputs."""
    cfg = PredictConfig.model_validate(config)
    with worker_context(devices) as context:
        if context.world_size > 1 and spans_nodes():
            # ranks share each output file through memory maps, whose pages are not kept
            # coherent between machines on a network file system: on several nodes rank 0
            # predicts alone and the others are done
            if not context.is_main:
                return PredictResult()
            logger.warning(
                "predict: the %d workers span several machines; rank 0 predicts alone "
                "(start predict on one node to share the work)",
                context.world_size,
            )
            context = dataclasses.replace(context, world_size=1)
        try:
            return _predict(cfg, context)
        except torch.cuda.OutOfMemoryError:
            raise InputError(
                f"{context.device} ran out of memory predicting batches of "
                f"{_batch_size(cfg, context.device)} "
                f"tiles{f' of {cfg.tile_size}³' if cfg.tile_size else ''}; lower --batch_size"
                f"{' or --tile_size' if cfg.tile_size else ''}"
            ) from None


@dataclass(frozen=True, eq=False)
class _Job:
    """One star row to predict: its inputs, their header and one output path per model."""

    row: TomogramRow
    plan: RowPlan
    info: VolumeInfo
    targets: list[Path]

    @property
    def slice_work(self) -> int:
        """Work per Z slice, for sharing it out: voxels of a slice times input volumes."""
        return self.info.shape[1] * self.info.shape[2] * len(self.plan.paths)


Share = list[tuple[_Job, int, list[Slab]]]  # (job, model number, each rank's Z slab) of a round


def _predict(cfg: PredictConfig, context: DistributedContext) -> PredictResult:
    return_freed_memory_promptly()  # tile after tile of freed tensors: no heap of them
    device = context.device
    ckpt, model = _load(cfg.model, device)
    models = [model]
    if cfg.model2:
        ckpt2, model2 = _load(cfg.model2, device)
        if (ckpt2["method"], ckpt2["cube_size"]) != (ckpt["method"], ckpt["cube_size"]):
            raise InputError(
                f"--model2 {cfg.model2} was trained with {ckpt2['method']} at cube "
                f"{ckpt2['cube_size']}, --model with {ckpt['method']} at {ckpt['cube_size']}"
            )
        models.append(model2)
        trained_on = tuple(_y_half(c, p) for c, p in ((ckpt, cfg.model), (ckpt2, cfg.model2)))
    else:
        trained_on = (None, None)
    method, arch, cube = ckpt["method"], ckpt["arch"], int(ckpt["cube_size"])
    physics = dict(ckpt["physics"])
    apply_mw = physics.get("apply_mw_x1", True) if cfg.apply_mw_x1 is None else cfg.apply_mw_x1
    if context.is_main:  # once, not once per worker
        _warn_ignored_flags(cfg, method, physics)
    is_flipped, flip_tiles = _phase_flip_settings(cfg, physics, warn=context.is_main)
    table = read_star(cfg.star_file)
    rows = table.select(cfg.selected_indices())
    if cfg.tile_size is not None:  # any multiple of 16: the network is fully convolutional
        cube = cfg.tile_size
    if cfg.rotation_average:
        rotations = _shared_rotations(rows, cfg.tta_mirrors)
        models = [RotationAverage(m, rotations).eval() for m in models]
        logger.info("averaging the network over %d orientations per tile", 1 + len(rotations))
    batch = _batch_size(cfg, device)
    predictors = [
        TilePredictor(
            m,
            cube,
            device,
            batch,
            autocast_dtype(device, True),
            cfg.padding_factor,
            per_tile_quantiles=method == "isonet2",
        )
        for m in models
    ]
    plans = [plan_row(row, method=method, input_column=cfg.input_column) for row in rows]
    # every input checked before the first hour of work
    infos = {path: require_tomogram(read_info(path)) for plan in plans for path in plan.paths}
    output_dir = Path(cfg.output_dir)
    tags = ["", "_model2"][: len(models)]
    jobs = [
        _Job(
            row,
            plan,
            infos[plan.paths[0]],
            [
                output_dir / f"{cfg.output_prefix}{plan.stem}_{method}_{arch}{tag}.mrc"
                for tag in tags
            ],
        )
        for row, plan in zip(rows, plans, strict=True)
    ]
    written_column = DENOISED_COLUMN if method == "n2n" else CORRECTED_COLUMN
    targets = [t for job in jobs for t in job.targets]
    for target in targets:
        if not name_fits_with_temp(target):
            raise InputError(
                f"{cfg.flag('output_prefix')}: the output name {target.name[:40]}... would be "
                f"{len(target.name.encode())} bytes, too long for a file name; give a shorter "
                "prefix"
            )
    check_unique_outputs(targets, Path(cfg.star_file), table, written_column, "--output_dir")
    if context.is_main:  # nothing is written before the inputs and outputs check out
        plots = [_fsc_plot(output_dir, cfg.output_prefix, job) for job in jobs]  # --model2's
        start_output_folder(cfg, output_dir, [*targets, *plots], "predict_config.json")
    if cfg.tile_size is not None:
        for job in jobs:
            largest = -(-max(job.info.shape) // 16) * 16
            if cube > largest:  # only padding beyond that, at a memory cost of cube³ per tile
                raise InputError(
                    f"--tile_size {cube} is larger than every axis of {job.plan.paths[0]} "
                    f"{job.info.shape} (z, y, x); use at most {largest}"
                )
    filters_for = partial(
        tile_filters_for,
        physics=physics,
        cube=cube,
        device=device,
        apply_mw_x1=apply_mw,
        is_ctf_flipped=is_flipped,
        do_phaseflip_input=flip_tiles,
    )
    rounds = _share_out(jobs, len(models), context.world_size)
    total = sum(
        _tiles(job, slabs[context.rank], cube, cfg.padding_factor)
        for share in rounds
        for job, _, slabs in share
    )
    result = PredictResult()
    logger.info(
        "predicting %s with %s (%s, %s, tiles of %d³) on %s",
        counted(len(rows), "tomogram"),
        cfg.model,
        method,
        arch,
        cube,
        device if context.world_size == 1 else f"{context.world_size} x {device.type}",
    )
    started = time.perf_counter()
    voxels = sum(int(np.prod(job.info.shape)) for job in jobs)
    with (
        _say_what_was_kept(result, cfg.star_file, context.is_main),
        progress_bar(total=total, desc="predict", unit="tile", disable=not context.is_main) as bar,
    ):
        if context.world_size == 1:
            for job in jobs:
                sources, filters = open_sources(job.plan), filters_for(job.row)
                for predictor, target in zip(predictors, job.targets, strict=True):
                    with new_volume(
                        target,
                        job.info.shape,
                        voxel_size_angstrom=job.info.voxel_size_angstrom,
                        origin_angstrom=job.info.origin_angstrom,
                    ) as out:
                        predictor.predict_into(out, sources, filters, progress=bar.update)
                halves = _gold_standard_halves(job, predictors, trained_on, filters, sources)
                _record(job, table, cfg.star_file, method, result, halves, cfg.output_prefix)
        else:
            for share in rounds:
                _predict_share(share, predictors, filters_for, context, bar.update)
                if context.is_main:  # each of the round's jobs once, in order
                    for job in dict.fromkeys(job for job, _, _ in share):
                        halves = _gold_standard_halves(
                            job, predictors, trained_on, filters_for(job.row)
                        )
                        _record(
                            job, table, cfg.star_file, method, result, halves, cfg.output_prefix
                        )
    seconds = time.perf_counter() - started
    for path in result.outputs:
        logger.info("wrote %s", path)
    logger.info(
        "predicted %.1f Mvoxel in %.1f s (%.2f Mvoxel/s)",
        voxels / 1e6,
        seconds,
        voxels / 1e6 / seconds,
    )
    return result


@contextmanager
def _say_what_was_kept(result: PredictResult, star_file: str, is_main: bool) -> Iterator[None]:
    """A stopped or failed predict names the maps it finished (kept and in the star)."""
    try:
        yield
    except BaseException:
        if is_main and result.outputs:
            logger.warning(
                "kept, and recorded in %s, the maps finished before the stop (%d): %s",
                star_file,
                len(result.outputs),
                ", ".join(str(path) for path in result.outputs),
            )
        raise


def _batch_size(cfg: PredictConfig, device: torch.device) -> int:
    """Tiles per network call: --batch_size, or auto = 8 on a GPU, 2 on the CPU."""
    return cfg.batch_size if cfg.batch_size != "auto" else (8 if device.type == "cuda" else 2)


def _warn_ignored_flags(cfg: PredictConfig, method: str, physics: dict[str, Any]) -> None:
    """A warning for each flag given that this model ignores (they changed nothing, silently)."""
    if cfg.apply_mw_x1 is not None and method == "n2n":
        logger.warning(
            "--apply_mw_x1 ignored: %s is a denoise (n2n) model, whose tiles are never "
            "wedge-filtered",
            cfg.model,
        )
    if physics.get("ctf_mode", "None") == "None" and (
        cfg.isCTFflipped is not None or cfg.do_phaseflip_input is not None
    ):
        logger.warning(
            "--isCTFflipped / --do_phaseflip_input ignored: %s was trained with CTF mode None "
            "(they apply to CTF-aware models only)",
            cfg.model,
        )


def _phase_flip_settings(
    cfg: PredictConfig, physics: dict[str, Any], *, warn: bool = True
) -> tuple[bool, bool]:
    """(maps already flipped, flip tiles on the fly): predict's flags where given, else the
    checkpoint's (a model trained with --do_phaseflip_input False was fed flipped tiles).
    With `warn`, a warning where the given flags show a CTF-aware network other maps than it
    trained on."""
    trained_flipped = bool(physics.get("is_ctf_flipped", False))
    trained_flipping = bool(physics.get("do_phaseflip_input", True))
    is_flipped = trained_flipped if cfg.isCTFflipped is None else cfg.isCTFflipped
    flip_tiles = trained_flipping if cfg.do_phaseflip_input is None else cfg.do_phaseflip_input
    if warn and physics.get("ctf_mode", "None") != "None":
        trained_on_flipped = trained_flipped or trained_flipping
        if (is_flipped or flip_tiles) != trained_on_flipped:
            seen = {True: "phase-flipped", False: "unflipped"}
            logger.warning(
                "the model was trained on %s maps and is given %s ones (isCTFflipped %s, "
                "do_phaseflip_input %s; in training %s, %s): leave both flags out to predict "
                "as it was trained",
                seen[trained_on_flipped],
                seen[is_flipped or flip_tiles],
                is_flipped,
                flip_tiles,
                trained_flipped,
                trained_flipping,
            )
    return is_flipped, flip_tiles


def _shared_rotations(rows: list[TomogramRow], mirrors: bool) -> list[Flips]:
    """The 180° rotations (and mirrors) that keep every selected tomogram's wedge in place."""
    per_row = [wedge_preserving_rotations(r.tilt_min_deg, r.tilt_max_deg, mirrors) for r in rows]
    return [dims for dims in per_row[0] if all(dims in other for other in per_row)]


def _tiles(job: _Job, slab: Slab, cube: int, padding_factor: float) -> int:
    """Tiles predicted for one output of `job` when this process writes its `slab`."""
    grid = TileGrid.for_volume(job.info.shape, cube, padding_factor)
    per_row = len(grid.starts[1]) * len(grid.starts[2])
    return len(grid.rows_touching(*slab)) * per_row * len(job.plan.paths)


def _share_out(jobs: list[_Job], models: int, world_size: int) -> list[Share]:
    """The jobs in rounds of ROWS_PER_RANK_AND_ROUND per rank, each output cut into rank slabs.

    Rounds bound the files open at once; ranks meet once per round.
    """
    per_round = ROWS_PER_RANK_AND_ROUND * world_size
    rounds = []
    for first in range(0, len(jobs), per_round):
        outputs = [(job, n) for job in jobs[first : first + per_round] for n in range(models)]
        work = [(job.info.shape[0], job.slice_work) for job, _ in outputs]
        slabs = share_slabs(work, world_size)
        rounds.append([(job, n, s) for (job, n), s in zip(outputs, slabs, strict=True)])
    return rounds


def _predict_share(
    share: Share,
    predictors: list[TilePredictor],
    filters_for: Callable[[TomogramRow], TileFilters],
    context: DistributedContext,
    progress: Callable[[int], object],
) -> None:
    """This rank's slabs of one round's outputs, written into the files all ranks share."""
    targets = [(job.targets[number], job.info) for job, number, _ in share]
    with shared_outputs(targets, context) as maps:
        for (job, number, slabs), out in zip(share, maps, strict=True):
            z_range = slabs[context.rank]
            if z_range[0] < z_range[1]:
                sources, filters = open_sources(job.plan), filters_for(job.row)
                predictors[number].predict_into(out, sources, filters, progress, z_range)


def _y_half(ckpt: dict, path: str) -> str | None:
    """The Y half a split_halves network trained on: recorded, or its file's _top/_bottom."""
    recorded = ckpt.get("y_half")
    if recorded in ("top", "bottom"):
        return str(recorded)
    stem = Path(path).stem
    return next((half for half in ("top", "bottom") if stem.endswith(f"_{half}")), None)


def _gold_standard_halves(
    job: _Job,
    predictors: list[TilePredictor],
    trained_on: tuple[str | None, ...],
    filters: TileFilters,
    sources: list[Source] | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """With --model2 and even/odd halves: two independent half maps of the central crop.

    `sources`: the row's inputs where they are open already; opened here only when used.
    """
    if len(predictors) != 2 or len(job.plan.paths) != 2:
        return None
    if sources is None:
        sources = open_sources(job.plan)
    if set(trained_on) == {"top", "bottom"}:
        logger.info(
            "predicting the central crop's even and odd halves, each Y half with the "
            "network that did not train on it"
        )
    else:
        logger.info(
            "predicting the central crop of the even half with --model, odd with "
            "--model2 (neither says which Y half it trained on)"
        )
    return independent_half_maps(predictors, sources, filters, MAX_FSC_SIDE, trained_on)


def _fsc_plot(folder: Path, prefix: str, job: _Job) -> Path:
    """Where --model2's FSC plot of `job` goes (with --output_prefix, as every output)."""
    return folder / f"{prefix}{job.plan.stem}_fsc.png"


def _record(
    job: _Job,
    table: StarTable,
    star_file: str,
    method: str,
    result: PredictResult,
    halves: tuple[np.ndarray, np.ndarray] | None = None,
    prefix: str = "",
) -> None:
    """Put the finished outputs of `job` in the star (rewritten) and the result; FSC of two."""
    written = job.targets
    if method == "n2n":
        job.row.denoised_path = str(written[0])
    else:
        job.row.corrected_path = str(written[0])
    write_star(table, star_file)
    result.outputs.append(written[0])
    if len(written) == 2:
        result.second_outputs.append(written[1])
        result.resolutions_angstrom[job.row.index] = _two_model_fsc(
            written,
            halves,
            job.row.pixel_size_angstrom,
            _fsc_plot(written[0].parent, prefix, job),
        )


def _crop_and_release(volume: np.ndarray) -> np.ndarray:
    """The FSC's central crop of a memory-mapped map, its pages handed back after reading."""
    crop = central_crop(volume, MAX_FSC_SIDE)
    release_pages(volume)
    return crop


def _two_model_fsc(
    paths: list[Path],
    halves: tuple[np.ndarray, np.ndarray] | None,
    pixel_size_angstrom: float,
    png: Path,
) -> float:
    """Plot and log the FSCs of a --model2 pair; the resolution of the independent one.

    With halves, the gold standard: the independent even and odd half maps
    (`_gold_standard_halves`). Without (one input map), only the two maps' agreement, which
    says how alike the networks are, not a resolution; its 0.143 crossing is still returned,
    as the only number there is.
    """
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    said: list[str] = []
    maps = tuple(_crop_and_release(open_volume(p)) for p in paths)
    pairs = [("model vs model2, both from the same input", (maps[0], maps[1]))]
    if halves is not None:
        pairs.insert(0, ("even vs odd half maps (independent)", halves))
    resolutions = []
    for name, pair in pairs:
        freq, fsc = fourier_shell_correlation(*(torch.from_numpy(v) for v in pair))
        curves[name] = (freq.numpy(), fsc.numpy())
        found = resolution_at_threshold(freq, fsc, 0.143, pixel_size_angstrom)
        if found == 2.0 * pixel_size_angstrom:  # its answer when the curve does not fall
            said.append(f"{name}: above 0.143 up to Nyquist ({found:.1f} Å)")
        else:
            said.append(f"{name}: 0.143 at {found:.1f} Å")
        resolutions.append(found)
    save_fsc_png(curves, pixel_size_angstrom, png)
    if halves is None:
        said[0] += " (agreement of the networks: no even/odd halves for an independent pair)"
    logger.info("FSC of %s and %s: %s (%s)", paths[0].name, paths[1].name, "; ".join(said), png)
    return resolutions[0]  # the independent pair's, where there is one
