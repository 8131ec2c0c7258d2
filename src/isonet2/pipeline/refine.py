"""refine: train IsoNet2 (missing wedge + denoising + CTF) on the star's tomograms.

Example:
    isonet.py refine tomograms.star -o 01_test --CTF_mode network

Method auto: even/odd halves -> isonet2-n2n; full maps only -> isonet2; both -> isonet2-n2n
unless --noise_level > 0 asks for the single-map recipe; --input_column or --with_deconv
train single maps. Single maps are each row's rlnDeconvTomoName, else its rlnTomoName, unless
--input_column names a column (predict reads the same by default). Rerunning into the same
output folder resumes an unfinished run.
With --gpuID 0,1 (or --cpu_workers 2 on the CPU) one data-parallel worker trains per GPU; the
command also runs as the workers of an outer torchrun.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from isonet2.config import DeconvConfig, MakeMaskConfig, PredictConfig, RefineConfig
from isonet2.errors import InputError
from isonet2.io.star import DECONV_COLUMN, StarTable, read_star
from isonet2.pipeline import deconv, make_mask, predict
from isonet2.pipeline.training import (
    Method,
    fit_loader_workers,
    launch,
    make_spec,
    open_for_method,
    prepare_output_folder,
    previewer_for,
    target_settings,
    warn_ignored_flags,
    warn_without_defocus,
    worker_context,
)
from isonet2.train.devices import select_devices
from isonet2.train.distributed import (
    DistributedContext,
    is_main_process,
)
from isonet2.train.trainer import TrainResult, train

logger = logging.getLogger(__name__)


@dataclass
class RefineResult:
    """The method used and the trained checkpoint(s): one, or _top and _bottom."""

    method: Method
    checkpoints: list[Path] = field(default_factory=list)
    runs: list[TrainResult] = field(default_factory=list)


def resolve_method(cfg: RefineConfig, table: StarTable) -> Method:
    """The recipe to train, from --method and what the star holds (ALGORITHM §5)."""
    halves = bool(table.rows) and all(row.has_halves for row in table.rows)
    full = bool(table.rows) and all(row.tomogram_path for row in table.rows)
    if cfg.method == "isonet2-n2n" and cfg.with_deconv:
        raise InputError(
            "--with_deconv trains the single-map recipe on rlnDeconvTomoName, --method "
            "isonet2-n2n on the even/odd halves: leave out one of them"
        )
    if cfg.method == "isonet2-n2n" and cfg.input_column is not None:
        raise InputError(
            "--input_column names the single maps of --method isonet2; --method isonet2-n2n "
            "trains on the even/odd halves: leave out one of them"
        )
    if cfg.with_deconv and cfg.input_column not in (None, DECONV_COLUMN):
        raise InputError(
            f"--with_deconv trains on {DECONV_COLUMN}, not on --input_column "
            f"{cfg.input_column}: leave out one of them"
        )
    if cfg.method == "isonet2-n2n" and not halves:
        raise InputError(
            "--method isonet2-n2n needs even/odd halves in every star row "
            "(rlnTomoReconstructedTomogramHalf1/2); run prepare_star with --even/--odd"
        )
    noise_requested = any(level > 0 for level in cfg.noise_level)
    if cfg.method == "isonet2-n2n" and noise_requested:
        raise InputError(
            "--noise_level adds noise in the single-map recipe (isonet2); isonet2-n2n "
            "denoises from the even/odd halves and would ignore it: leave out one of them"
        )
    if cfg.method != "auto":
        return cfg.method
    single_requested = cfg.input_column is not None or cfg.with_deconv
    if halves and not single_requested and not (noise_requested and full):
        chosen: Method = "isonet2-n2n"
        if noise_requested:  # the tutorial's line, run on a star of halves only
            logger.warning(
                "--noise_level is ignored: %s has even/odd halves but no full maps "
                "(rlnTomoName) for the single-map recipe it applies to, so refine trains "
                "isonet2-n2n, which denoises from the halves; for isonet2 with added noise, "
                "make full maps (prepare_star --create_average True)",
                cfg.star_file,
            )
    elif full or single_requested:
        chosen = "isonet2"
    else:
        raise InputError(
            f"{cfg.star_file}: the rows have neither even/odd halves nor full tomograms "
            "(rlnTomoName); run prepare_star again"
        )
    return chosen


def _reads_deconvolved(cfg: RefineConfig, table: StarTable) -> bool:
    """Whether single-map training reads deconvolved maps: --with_deconv, the column named,
    or by default a row that has one (rlnDeconvTomoName before rlnTomoName)."""
    if cfg.with_deconv or cfg.input_column == DECONV_COLUMN:
        return True
    return cfg.input_column is None and any(
        row.path_in_column(DECONV_COLUMN) is not None for row in table.rows
    )


def run(cfg: RefineConfig) -> RefineResult:
    """Train one network (two with --split_halves); optionally predict every tomogram after."""
    # the band weight's default depends on the loss; the run record and workers get the number
    typed = set(cfg.model_fields_set)  # before the resolved values below join it
    cfg = cfg.model_copy(update={"mw_weight": cfg.band_weight})
    devices = select_devices(cfg.gpuID)  # a missing GPU is reported before any work
    cfg = fit_loader_workers(cfg, devices)
    # the recipe is chosen once, here: the run record, the workers and a later rerun see it
    asked = cfg.method
    table = read_star(cfg.star_file)
    cfg = cfg.model_copy(update={"method": resolve_method(cfg, table)})
    if cfg.method == "isonet2-n2n" and any(level > 0 for level in cfg.noise_level):
        # auto on halves only (resolve_method warned): the record says what is trained
        cfg = cfg.model_copy(update={"noise_level": [0.0], "noise_start_iter": [0]})
    if cfg.with_deconv:  # trains on what deconv writes; the record and a rerun see that
        cfg = cfg.model_copy(update={"input_column": DECONV_COLUMN})
    main = is_main_process()  # under an outer torchrun only rank 0 writes and preprocesses
    if main:
        prepare_output_folder(cfg, cfg.method, "refine_config.json")  # type: ignore[arg-type]
        if asked == "auto":
            logger.info("method auto -> %s", cfg.method)
        warn_ignored_flags(
            cfg,
            cfg.method,  # type: ignore[arg-type]
            typed,
            reads_deconvolved=cfg.method == "isonet2" and _reads_deconvolved(cfg, table),
        )
    if main and cfg.with_deconv:
        halves_only = [row.index for row in table.rows if row.tomogram_path is None]
        if halves_only:
            logger.warning(
                "--with_deconv: rows %s have no full map (rlnTomoName), so refine deconvolves "
                "and trains on their even half alone, half the dose; without --with_deconv "
                "refine trains isonet2-n2n on both halves, or make full maps with prepare_star "
                "--create_average True",
                halves_only,
            )
        deconv.run(
            DeconvConfig(
                star_file=cfg.star_file,
                phaseflipped=cfg.isCTFflipped,
                # the Wiener flags the user typed; else deconv's own defaults (snrfalloff 1),
                # not the CTF_mode-wiener training defaults (snrfalloff 0)
                **{
                    name: getattr(cfg, name)
                    for name in ("snrfalloff", "deconvstrength", "highpassnyquist")
                    if name in typed
                },
            )
        )
        make_mask.run(MakeMaskConfig(star_file=cfg.star_file))
    result = launch(cfg, train_worker, devices)
    if cfg.with_predict:  # every rank: under an outer torchrun predict shares the tomograms
        predict.run(
            PredictConfig(
                star_file=cfg.star_file,
                model=str(result.checkpoints[0]),
                model2=str(result.checkpoints[1]) if cfg.split_halves else None,
                output_dir=str(Path(cfg.output_dir) / "corrected"),
                gpuID=cfg.gpuID,
                input_column=cfg.input_column,
            )
        )
    return result


def train_worker(config: dict[str, object], devices: list[torch.device]) -> RefineResult:
    """One data-parallel worker (or the only process): train on its share of the cubes."""
    cfg = RefineConfig.model_validate(config)
    with worker_context(devices) as context:
        return _train(cfg, context)


def _train(cfg: RefineConfig, context: DistributedContext) -> RefineResult:
    table = read_star(cfg.star_file)
    method = resolve_method(cfg, table)
    tomoset = open_for_method(table, method, cfg.input_column, cfg.cube_size)
    if context.is_main:
        warn_without_defocus(table, cfg)
    settings = target_settings(
        cfg,
        method,
        mw_weight=cfg.band_weight,
        random_rot_weight=cfg.random_rot_weight,
        train_mirrors=cfg.train_mirrors,
        noise_mode=cfg.noise_mode,
        apply_mw_x1=cfg.apply_mw_x1,
    )
    halves: list[tuple[str, str | None]] = (
        [("top", "top"), ("bottom", "bottom")] if cfg.split_halves else [("full", None)]
    )
    result = RefineResult(method=method)
    for number, (suffix, y_half) in enumerate(halves):
        tag = "" if y_half is None else f"_{suffix}"
        preview = previewer_for(cfg, table, settings, context, cfg.input_column, tag)
        if y_half is not None:
            logger.info(
                "split halves: training the %s network (centres in the %s half of Y)",
                suffix,
                suffix,
            )
        spec = make_spec(
            cfg,
            method,
            settings,
            devices=context.world_size,
            noise_levels=list(cfg.noise_level),
            noise_start_epochs=list(cfg.noise_start_iter),
            y_half=y_half,
            suffix=suffix,
            preview=preview,
        )
        # the two halves' networks start from other weights (and draw other cubes), so their
        # maps are independent; the run record keeps the one --seed
        spec = dataclasses.replace(spec, seed=cfg.seed + number)
        run_result = train(spec, tomoset, context)
        result.runs.append(run_result)
        result.checkpoints.append(run_result.checkpoint)
    return result
