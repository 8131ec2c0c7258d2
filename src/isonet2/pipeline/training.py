"""What refine and denoise share: method choice, the resolved training spec, previews.

Example:
    spec, tomoset = prepare_training(cfg, method="isonet2-n2n", table=read_star(cfg.star_file))

Not a command itself: `refine.py` and `denoise.py` call it; `predict.py` uses its launcher.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch

from isonet2.config import PredictConfig, TrainingConfig
from isonet2.config.base import parse_index_selection
from isonet2.data.tomograms import TomogramSet, open_tomogram_set
from isonet2.errors import InputError
from isonet2.io.atomic import make_folder
from isonet2.io.checkpoint import load_checkpoint
from isonet2.io.logfile import close_log_file, forget_warnings, open_log_file
from isonet2.io.mrc import new_volume, open_volume
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import StarTable, defocus_in_microns
from isonet2.predict.inputs import open_sources, plan_row, tile_filters_for
from isonet2.predict.pictures import Slices, central_slices, save_slices_png
from isonet2.predict.predictor import TilePredictor
from isonet2.targets.settings import TargetSettings
from isonet2.train.devices import autocast_dtype, select_devices
from isonet2.train.distributed import (
    DistributedContext,
    init_from_env,
    is_main_process,
    run_workers,
    shutdown,
    worker_count,
)
from isonet2.train.runfolder import settle_run_folder, stderr_writes_into
from isonet2.train.trainer import TrainSpec, check_compatible

logger = logging.getLogger(__name__)

Method = Literal["n2n", "isonet2-n2n", "isonet2"]
Result = TypeVar("Result")
TrainingT = TypeVar("TrainingT", bound=TrainingConfig)
Worker = Callable[[dict[str, object], list[torch.device]], Result]


def launch(
    cfg: TrainingConfig | PredictConfig,
    worker: Worker[Result],
    devices: list[torch.device] | None = None,
) -> Result:
    """Run `worker(config dump, devices)` once per GPU of --gpuID (or --cpu_workers on the CPU).

    `worker` must be a module-level function: launched workers import it by name. `devices`:
    those of --gpuID, when the caller has selected them already.
    """
    devices = select_devices(cfg.gpuID) if devices is None else devices
    config = cfg.model_dump(mode="json")
    workers = worker_count(devices, cfg.cpu_workers)
    if isinstance(cfg, TrainingConfig) and workers > 1 and is_main_process():
        _hand_warnings_to_log(Path(cfg.output_dir) / "log.txt")
    return run_workers(worker, workers, (config, devices))


def _hand_warnings_to_log(log: Path) -> None:
    """The warnings this process gave (no GPU, no defocus, a run set aside) into the log.txt
    that a launched worker will write; they reach it from no other process."""
    if stderr_writes_into(log):
        forget_warnings()  # already in it, through the redirected stderr
    else:
        close_log_file(open_log_file(log))


def fit_loader_workers(cfg: TrainingT, devices: list[torch.device]) -> TrainingT:
    """`cfg` with --ncpus fitted to this machine (`loader_workers`), to record and launch.

    Only for training on the CPU, where the workers and the network compete for the same
    cores; on GPUs the default stays 4 per process, as before (a training process there
    mostly waits for its GPU; not measured with fewer).
    """
    if devices[0].type != "cpu":
        return cfg
    processes = worker_count(devices, cfg.cpu_workers)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", processes))  # an outer torchrun's count
    return cfg.model_copy(update={"ncpus": loader_workers(cfg, local, usable_cpus())})


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity: a cluster job's share, not the node's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def loader_workers(cfg: TrainingConfig, processes: int, cpus: int) -> int:
    """Loader workers per training process: --ncpus as given; left at its default, at most
    each process's share of the `cpus` (0 when there is less than one CPU each).

    The default of 4 suits a GPU node; training on a 2-core laptop or CI runner, 4 workers
    per process only compete with the network for the cores (and torch warns about it). An
    --ncpus the user typed is kept, with one warning when it exceeds the CPUs.
    """
    if "ncpus" in cfg.model_fields_set:
        if cfg.ncpus * processes > cpus:
            logger.warning(
                "--ncpus %d: %d loader workers for %d CPUs; training may slow down (leave "
                "--ncpus out to fit the workers to the CPUs)",
                cfg.ncpus,
                cfg.ncpus * processes,
                cpus,
            )
        return cfg.ncpus
    share = min(cfg.ncpus, cpus // processes)
    if share < cfg.ncpus:
        each = f" for each of {processes} training processes" if processes > 1 else ""
        logger.info("--ncpus %d: the default %d fitted to %d CPUs%s", share, cfg.ncpus, cpus, each)
    return share


@contextmanager
def worker_context(devices: list[torch.device]) -> Iterator[DistributedContext]:
    """This worker's rank and device, its process group shut down on the way out."""
    context = init_from_env(devices)
    try:
        yield context
    finally:
        shutdown(context)


def auto_batch_size(batch_size: int | str, devices: int) -> int:
    """ALGORITHM §5: 4 on one device, 2 per device on several."""
    if batch_size != "auto":
        return int(batch_size)
    return 4 if devices == 1 else 2 * devices


def open_for_method(
    table: StarTable, method: Method, input_column: str | None, cube_size: int
) -> TomogramSet:
    """Open the star's tomograms as halves (n2n methods) or single maps (isonet2)."""
    if method in ("n2n", "isonet2-n2n"):
        missing = [row.index for row in table.rows if not row.has_halves]
        if missing:
            raise InputError(
                f"method {method} needs even/odd halves but star row {missing[0]} has none "
                "(rlnTomoReconstructedTomogramHalf1/2); run prepare_star with --even/--odd"
                + ("" if method == "n2n" else ", or use --method isonet2 on full maps")
            )
        return open_tomogram_set(table.rows, source="halves", cube_size=cube_size)
    return open_tomogram_set(
        table.rows, source="single", input_column=input_column, cube_size=cube_size
    )


def checkpoint_stem(method: Method, cfg: TrainingConfig) -> str:
    """The name the run's checkpoints start with, e.g. network_isonet2-n2n_unet-medium_96."""
    return f"network_{method}_{cfg.arch}_{cfg.cube_size}"


def prepare_output_folder(cfg: TrainingConfig, method: Method, record_name: str) -> None:
    """Make the output folder, set any other run in it aside (settle_run_folder), then write
    the run record: a run that will continue keeps its folder as it is. A --pretrained_model
    that cannot be used is refused first (it was found only after the folder, the record and
    with --with_deconv the deconvolved maps and masks were written)."""
    if cfg.pretrained_model:
        check_compatible(
            load_checkpoint(cfg.pretrained_model), cfg.arch, cfg.cube_size, cfg.pretrained_model
        )
    output_dir = Path(cfg.output_dir)
    make_folder(output_dir, cfg.flag("output_dir"))
    note = settle_run_folder(
        output_dir, checkpoint_stem(method, cfg), cfg.model_dump(mode="json"), cfg.resume
    )
    if note:
        logger.warning(note)
    write_run_config(cfg, output_dir / record_name)


def warn_without_defocus(table: StarTable, cfg: TrainingConfig) -> None:
    """A warning when --CTF_mode asks for a CTF that rows of the star cannot give: a defocus
    of 0 (or an empty cell) means no CTF, so the network trains as with --CTF_mode None there;
    one under 100 Å (µm typed) gives a CTF that does nothing. Warnings, not errors: the
    tutorial's prepare_star line gives no defocus."""
    if cfg.CTF_mode == "None":
        return
    microns = defocus_in_microns(table.rows)
    if microns:
        logger.warning(
            "%s (%s); fix rlnDefocus in %s", microns, cfg.flag("CTF_mode"), cfg.star_file
        )
    missing = [row.index for row in table.rows if row.defocus_angstrom == 0]
    if not missing:
        return
    rows = "every row" if len(missing) == len(table.rows) else f"rows {missing}"
    logger.warning(
        "%s %s: %s of %s has no defocus (rlnDefocus 0 or empty), so there is no CTF to "
        "correct there; give the defocus in Å (underfocus positive) with prepare_star "
        "--defocus or in the star's rlnDefocus column",
        cfg.flag("CTF_mode"),
        cfg.CTF_mode,
        rows,
        cfg.star_file,
    )


def warn_ignored_flags(
    cfg: TrainingConfig, method: Method, typed: set[str], reads_deconvolved: bool = False
) -> None:
    """One warning per typed flag that this CTF mode / method ignores (`typed`: the user's
    fields, taken before the pipeline fills in resolved values), and one where a CTF mode
    would correct the CTF of deconvolved maps (`reads_deconvolved`) a second time."""
    mode = cfg.CTF_mode
    ignored: list[tuple[str, str]] = []
    if "clip_first_peak_mode" in typed and mode != "network":
        ignored.append(("clip_first_peak_mode", "applies to --CTF_mode network only"))
    if "bfactor" in typed and mode in ("None", "phase_only"):
        ignored.append(("bfactor", "applies to --CTF_mode network (and wiener) only"))
    with_deconv = bool(getattr(cfg, "with_deconv", False))
    for name in ("snrfalloff", "deconvstrength", "highpassnyquist"):
        if name in typed and mode != "wiener" and not with_deconv:
            ignored.append((name, "applies to --CTF_mode wiener (or --with_deconv) only"))
    for name in ("isCTFflipped", "do_phaseflip_input"):
        if name in typed and mode == "None":
            ignored.append((name, "has no effect with --CTF_mode None"))
    noisy = any(level > 0 for level in getattr(cfg, "noise_level", [0.0]))
    for name in ("noise_mode", "noise_start_iter"):
        if name in typed and (method != "isonet2" or not noisy):
            ignored.append((name, "applies to method isonet2 with --noise_level > 0 only"))
    for name, why in ignored:
        logger.warning(
            "%s is ignored: it %s (this run: --CTF_mode %s, method %s)",
            cfg.flag(name),
            why,
            mode,
            method,
        )
    if mode == "phase_only" and not cfg.isCTFflipped and not cfg.do_phaseflip_input:
        logger.warning(
            "--CTF_mode phase_only with --do_phaseflip_input False does nothing: "
            "the run trains as with --CTF_mode None"
        )
    if reads_deconvolved and mode != "None":
        logger.warning(
            "training on deconvolved maps (rlnDeconvTomoName), which deconv has "
            "already CTF-corrected, with --CTF_mode %s corrects the CTF twice "
            "(and phase-flips them again); use --CTF_mode None",
            mode,
        )


def target_settings(cfg: TrainingConfig, method: Method, **refine_only: object) -> TargetSettings:
    """The target strategy's settings from the command's config."""
    return TargetSettings(
        method=method,
        ctf_mode=cfg.CTF_mode,
        clip_first_peak_mode=cfg.clip_first_peak_mode,
        bfactor_angstrom2=cfg.bfactor,
        is_ctf_flipped=cfg.isCTFflipped,
        do_phaseflip_input=cfg.do_phaseflip_input,
        snrfalloff=cfg.snrfalloff,
        deconvstrength=cfg.deconvstrength,
        highpassnyquist=cfg.highpassnyquist,
        **refine_only,  # type: ignore[arg-type]
    )


def make_spec(
    cfg: TrainingConfig,
    method: Method,
    settings: TargetSettings,
    *,
    devices: int,
    **extra: object,
) -> TrainSpec:
    """The trainer's spec; `extra` sets the refine-only fields (noise schedule, y_half...)."""
    return TrainSpec(
        output_dir=Path(cfg.output_dir),
        checkpoint_stem=checkpoint_stem(method, cfg),
        arch=cfg.arch,
        cube_size=cfg.cube_size,
        epochs=cfg.epochs,
        batch_size=auto_batch_size(cfg.batch_size, devices),
        acc_batches=cfg.acc_batches,
        learning_rate=cfg.learning_rate,
        learning_rate_min=cfg.learning_rate_min,
        loss_func=cfg.loss_func,
        fsc_weight=cfg.fsc_weight,
        save_interval=cfg.save_interval,
        mixed_precision=cfg.mixed_precision,
        compile=cfg.compile,
        ema_decay=cfg.ema_decay,
        warmup_epochs=cfg.warmup_epochs,
        adamw_beta2=cfg.adamw_beta2,
        seed=cfg.seed,
        num_workers=cfg.ncpus,
        settings=settings,
        config=cfg.model_dump(mode="json"),
        pretrained_model=cfg.pretrained_model,
        resume=cfg.resume,
        **extra,  # type: ignore[arg-type]
    )


def _average_input_slices(sources: list[tuple[np.ndarray, tuple[float, float]]]) -> Slices:
    """Central slices of the inputs in the prediction's units: (v - mean)/std, halves averaged."""
    views: list[np.ndarray] = [np.zeros(1, np.float32)] * 3
    for volume, (mean, std) in sources:
        for view, image in enumerate(central_slices(volume)):
            views[view] = views[view] + (image - mean) / std / len(sources)
    return views[0], views[1], views[2]


def previewer_for(
    cfg: TrainingConfig,
    table: StarTable,
    settings: TargetSettings,
    context: DistributedContext,
    input_column: str | None,
    tag: str = "",
) -> Previewer | None:
    """The preview writer of a run: on the main process and only with --with_preview."""
    if not (cfg.with_preview and context.is_main):
        return None
    folder = Path(cfg.output_dir) / "preview"
    return Previewer(
        table, cfg.prev_tomo_idx, settings, cfg.cube_size, context.device, folder, input_column, tag
    )


class Previewer:
    """Predict chosen tomograms with the current network and save slice pictures."""

    def __init__(
        self,
        table: StarTable,
        indices: str,
        settings: TargetSettings,
        cube: int,
        device: torch.device,
        folder: Path,
        input_column: str | None,
        tag: str = "",
    ) -> None:
        self.rows = table.select(parse_index_selection(indices), source="--prev_tomo_idx")
        self.settings, self.cube, self.device = settings, cube, device
        self.folder, self.input_column, self.tag = folder, input_column, tag

    def __call__(self, epoch: int, model: torch.nn.Module, *, missing_only: bool = False) -> None:
        """Write preview/<stem>_epoch<E>.mrc and .png for each chosen tomogram (with
        missing_only, for those without the picture: a resumed run's cut-short preview)."""
        was_training = model.training
        predictor = TilePredictor(
            model,
            self.cube,
            self.device,
            4,
            autocast_dtype(self.device, True),
            per_tile_quantiles=self.settings.method == "isonet2",
        )
        physics = {
            "method": self.settings.method,
            "ctf_mode": self.settings.ctf_mode,
        }
        for row in self.rows:
            plan = plan_row(row, method=self.settings.method, input_column=self.input_column)
            sources = open_sources(plan)
            filters = tile_filters_for(
                row,
                physics,
                cube=self.cube,
                device=self.device,
                apply_mw_x1=self.settings.apply_mw_x1,
                is_ctf_flipped=self.settings.is_ctf_flipped,
                do_phaseflip_input=self.settings.do_phaseflip_input,
            )
            stem = f"{plan.stem}{self.tag}_epoch{epoch}"
            target = self.folder / f"{stem}.mrc"
            if missing_only and (self.folder / f"{stem}.png").exists():
                continue
            with new_volume(target, sources[0][0].shape) as out:
                predictor.predict_into(out, sources, filters)
            pictures = {
                "input": _average_input_slices(sources),
                f"epoch {epoch}": central_slices(open_volume(target)),
            }
            png = save_slices_png(pictures, self.folder / f"{stem}.png")
            logger.info("preview: %s", png)
        model.train(was_training)
