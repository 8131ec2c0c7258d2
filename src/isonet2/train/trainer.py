"""The training loop of refine and denoise, read top to bottom.

Example:
    result = train(spec, tomoset, init_from_env([device]))   # spec: TrainSpec
    print(result.checkpoint)                    # .../network_isonet2-n2n_unet-medium_96_full.pt

setup -> model / optimizer / resume -> loop (lr, batch, target strategy, forward, loss, step)
-> checkpoint and log. Method and CTF-mode differences live in the target strategy chosen
once before the loop. The latest checkpoint is rewritten atomically after every epoch, so a
run killed at any moment resumes from its last finished epoch and trains every requested one.
With several processes (train/distributed.py) each trains a DistributedDataParallel copy on
its own centres with batch_size / world_size cubes a batch; only rank 0 writes files, and the
checkpoint is the single-process one, so a run resumes with any number of processes. With
--acc_batches, gradients are all-reduced once per optimizer step, not per micro-batch.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from isonet2.data.batches import CubeDataset, EpochBatches, make_loader
from isonet2.data.sampler import SubtomogramSampler
from isonet2.data.tomograms import TomogramSet
from isonet2.errors import InputError, os_error_line
from isonet2.io.atomic import copy_atomic, make_folder, remove_leftover_temps
from isonet2.io.checkpoint import load_checkpoint, save_checkpoint
from isonet2.io.logfile import close_log_file, open_log_file
from isonet2.io.progress import counted, progress_bar
from isonet2.nn.registry import architecture_kwargs, build_model, check_cube_size, load_weights
from isonet2.targets.settings import TargetSettings, TomogramPhysics
from isonet2.targets.strategy import make_strategy
from isonet2.train.averaging import WeightAverage
from isonet2.train.devices import autocast_dtype
from isonet2.train.distributed import DistributedContext
from isonet2.train.losses import get_base_loss, masked_loss
from isonet2.train.plots import plot_losses
from isonet2.train.runfolder import (
    changed_settings,
    owned_by_training,
    stderr_writes_into,
)
from isonet2.train.schedule import cosine_learning_rate, noise_level_at
from isonet2.train.stopping import raise_if_stopped, stop_deferred

logger = logging.getLogger(__name__)

READ_BACK_EVERY = 20  # batches between reading the running loss back from the device
NORMALISATION = {"policy": "central-60-slices mean/std, contrast inverted", "slices": 60}


class Preview(Protocol):
    """Writes the preview of an epoch (rank 0); with missing_only, only pictures not there."""

    def __call__(
        self, epoch: int, model: torch.nn.Module, *, missing_only: bool = False
    ) -> None: ...


@dataclass
class TrainSpec:
    """Everything one training run needs, resolved from the command's config by the pipeline."""

    output_dir: Path
    checkpoint_stem: str  # e.g. network_isonet2-n2n_unet-medium_96 ; files add _full/_epochN
    arch: str
    cube_size: int
    epochs: int
    batch_size: int
    acc_batches: int
    learning_rate: float
    learning_rate_min: float
    loss_func: str
    save_interval: int
    mixed_precision: bool
    seed: int
    num_workers: int
    settings: TargetSettings
    config: dict[str, Any]
    noise_levels: list[float] = field(default_factory=lambda: [0.0])
    noise_start_epochs: list[int] = field(default_factory=lambda: [0])
    pretrained_model: str | None = None
    resume: bool = True
    fsc_weight: float = 1.0
    y_half: Literal["top", "bottom"] | None = None
    suffix: str = "full"  # "full", or "top"/"bottom" for split_halves
    preview: Preview | None = None
    compile: bool = False  # torch.compile the network on CUDA
    ema_decay: float = 0.0  # > 0: checkpoints and previews hold an EMA of the weights
    warmup_epochs: int = 0  # the learning rate rises linearly over these first epochs
    adamw_beta2: float = 0.999  # AdamW's squared-gradient decay (torch's default)

    @property
    def latest_path(self) -> Path:
        """The checkpoint rewritten every epoch."""
        return self.output_dir / f"{self.checkpoint_stem}_{self.suffix}.pt"

    def epoch_path(self, epoch: int) -> Path:
        """The numbered copy kept every save_interval epochs."""
        return self.output_dir / f"{self.checkpoint_stem}_epoch{epoch}_{self.suffix}.pt"

    @property
    def loss_plot_path(self) -> Path:
        """loss_full.png, or loss_top.png / loss_bottom.png for the split halves' networks
        (both wrote loss_full.png, and the top network's curves were lost)."""
        return self.output_dir / f"loss_{self.suffix}.png"


@dataclass
class TrainResult:
    """Where the final model is and how the loss went."""

    checkpoint: Path
    history: list[dict[str, float]]
    epochs_trained: int

    @property
    def checkpoints(self) -> list[Path]:
        """[checkpoint]: what refine's result calls its list (denoise returns this result)."""
        return [self.checkpoint]


def physics_of(tomoset: TomogramSet) -> list[TomogramPhysics]:
    """The per-tomogram physics records the target strategy needs."""
    return [
        TomogramPhysics(
            pixel_size_angstrom=t.pixel_size_angstrom,
            defocus_angstrom=t.defocus_angstrom,
            voltage_kv=t.voltage_kv,
            cs_mm=t.cs_mm,
            amplitude_contrast=t.amplitude_contrast,
            tilt_min_deg=t.tilt_min_deg,
            tilt_max_deg=t.tilt_max_deg,
        )
        for t in tomoset.tomograms
    ]


def _file_logger(spec: TrainSpec) -> logging.Handler | None:
    """Log to output_dir/log.txt unless stderr already goes to that very file."""
    path = spec.output_dir / "log.txt"
    return None if stderr_writes_into(path) else open_log_file(path)


def check_compatible(ckpt: dict[str, Any], arch: str, cube_size: int, source: str) -> None:
    """InputError naming `source` when a checkpoint's network is not this run's."""
    for key, wanted in (("arch", arch), ("cube_size", cube_size)):
        if ckpt[key] != wanted:
            raise InputError(
                f"{source}: the checkpoint has {key} {ckpt[key]} but this run uses {wanted}; "
                f"use --{key} {ckpt[key]} or another model"
            )


def train(spec: TrainSpec, tomoset: TomogramSet, context: DistributedContext) -> TrainResult:
    """Train one network on `tomoset` per `spec`; returns the final checkpoint's path."""
    # ---- setup
    handler = None
    if context.is_main:
        make_folder(spec.output_dir)
        handler = _file_logger(spec)
        remove_leftover_temps(spec.output_dir, owned_by_training)
        remove_leftover_temps(spec.output_dir / "preview", lambda name: True)  # all ours
    ending = None  # how the run ended, for the log's last line when not by finishing
    try:
        return _train(spec, tomoset, context)
    except torch.cuda.OutOfMemoryError:
        message = (
            f"{context.device} ran out of memory training {spec.arch} on {spec.batch_size} "
            f"cubes of {spec.cube_size}³; lower --batch_size (and raise --acc_batches) or "
            "--cube_size"
        )
        ending = f"error: {message}"
        raise InputError(message) from None
    except InputError as error:
        ending = f"error: {error}"
        raise
    except OSError as error:  # a full disk while writing a checkpoint, ...
        ending = f"error: {os_error_line(error)}"
        raise
    except (KeyboardInterrupt, SystemExit) as stop:
        ending = f"{_stop_name(stop)}; the same command resumes from the last finished epoch"
        raise
    finally:
        if handler is not None:
            close_log_file(handler, ending)


def _stop_name(stop: BaseException) -> str:
    """'interrupted (Ctrl-C)' or 'stopped by SIGTERM' for the exceptions stop signals raise."""
    signum = getattr(stop, "signum", None)  # io/stopsignals' StopSignal
    if isinstance(stop, SystemExit):  # train/stopping's launcher stop is 128 + the signal
        code = stop.code if isinstance(stop.code, int) else 1
        if code - 128 not in {int(s) for s in signal.Signals}:
            return f"ended with exit code {code}"
        signum = code - 128
    if signum is None or signum == signal.SIGINT:
        return "interrupted (Ctrl-C)"
    return f"stopped by {signal.Signals(signum).name}"


def _local_batch_size(spec: TrainSpec, world_size: int) -> int:
    """Cubes per batch on each process: the global batch split evenly."""
    if spec.batch_size % world_size:
        raise InputError(
            f"--batch_size {spec.batch_size} does not split evenly over {world_size} processes; "
            f"use a multiple of {world_size}"
        )
    return spec.batch_size // world_size


def training_network(
    arch: str, device: torch.device, world_size: int, sync_batchnorm: bool = False
) -> torch.nn.Module:
    """The unwrapped network as training runs it on `device` among `world_size` workers.

    BatchNorm normalises over each worker's own cubes; DistributedDataParallel hands rank 0's
    running statistics to the others at every forward, so all ranks hold the same model.
    `sync_batchnorm` pools the statistics of every GPU instead (SyncBatchNorm): on two H100s
    it cost 13 % of the training throughput (41.5 against 47.6 subtomograms/s at 4 cubes per
    GPU) and scored no better (README, Decisions), so training leaves it off; the throughput
    benchmark keeps it for comparison. Weights in channels-last 3D memory on every device
    (on 2 CPU cores the full isonet2-n2n step ran 18 % more subtomograms/s for unet-small at
    32³ and 43 % for unet-medium at 48³, README); on CUDA also cuDNN autotuning (fixed cube
    shapes).
    """
    net = build_model(arch).to(device)
    if sync_batchnorm and world_size > 1 and device.type == "cuda":
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return net.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]


def compiled(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`net` under torch.compile on CUDA (eager fallback if compiling fails); else `net`.

    The first steps of each mode (the no-grad first pass, the training pass) compile; the
    checkpoint and the previews keep using the uncompiled `net`, which shares its weights.
    """
    if device.type != "cuda":
        logger.warning("--compile applies to GPUs only; training on %s without it", device)
        return net
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # a failed compile runs eagerly, with a warning
    logger.info("compiling the network (the first steps take a minute or two longer)")
    return torch.compile(net)  # type: ignore[return-value]


def data_parallel(net: torch.nn.Module, device: torch.device, world_size: int) -> torch.nn.Module:
    """`net` wrapped in DistributedDataParallel when there are several workers, else itself."""
    if world_size == 1:
        return net
    return DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)


def _train(spec: TrainSpec, tomoset: TomogramSet, context: DistributedContext) -> TrainResult:
    check_cube_size(spec.arch, spec.cube_size)
    device, world_size = context.device, context.world_size
    torch.manual_seed(spec.seed)
    amp = autocast_dtype(device, spec.mixed_precision)
    base_loss = get_base_loss(spec.loss_func, spec.fsc_weight)
    batch_size = _local_batch_size(spec, world_size)
    sampler = SubtomogramSampler(
        tomoset,
        spec.cube_size,
        seed=spec.seed,
        rank=context.rank,
        world_size=world_size,
        y_half=spec.y_half,
    )
    steps_per_epoch = len(sampler) // batch_size // spec.acc_batches
    if steps_per_epoch < 1:
        raise InputError(
            f"an epoch has {len(sampler) * world_size} subtomograms, fewer than one step of "
            f"{spec.batch_size * spec.acc_batches}; raise rlnNumberSubtomo or lower --batch_size"
        )
    total_steps = spec.epochs * steps_per_epoch
    warmup_steps = spec.warmup_epochs * steps_per_epoch

    # ---- model, optimizer, resume
    net = training_network(spec.arch, device, world_size)  # what checkpoints and previews see
    betas = (0.9, spec.adamw_beta2)  # torch's default beta1
    optimizer = torch.optim.AdamW(net.parameters(), lr=spec.learning_rate, betas=betas)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    start_epoch, history = 0, []
    average: WeightAverage | None = None
    if spec.resume and spec.latest_path.exists():
        latest = str(spec.latest_path)
        try:
            ckpt = load_checkpoint(spec.latest_path)
        except InputError as error:  # e.g. a disk that filled while it was written
            raise InputError(
                f"{error}; to train afresh instead of resuming, delete it or give --resume False"
            ) from None
        check_compatible(ckpt, spec.arch, spec.cube_size, latest)
        changes = changed_settings(ckpt.get("config") or {}, spec.config)
        if changes:
            raise InputError(  # refine/denoise set such a run aside first (runfolder)
                f"{latest} holds a run (epoch {ckpt['epoch']}) trained with other settings: "
                f"{'; '.join(changes)}; rerun with its settings to continue it, add --resume "
                f"False to start over in {spec.output_dir}, or choose another output folder"
            )
        # with weight averaging, model_state is the average and training_state the raw weights
        load_weights(net, ckpt.get("training_state") or ckpt["model_state"], spec.arch, latest)
        if ckpt.get("optimizer_state"):
            optimizer.load_state_dict(ckpt["optimizer_state"])
        if ckpt.get("scaler_state"):
            scaler.load_state_dict(ckpt["scaler_state"])
        start_epoch = int(ckpt["epoch"])
        history = list((ckpt.get("metrics") or {}).get("history", []))
        if spec.ema_decay > 0:
            average = WeightAverage(net, spec.ema_decay, start_epoch * steps_per_epoch)
            if ckpt.get("training_state"):
                load_weights(average.network, ckpt["model_state"], spec.arch, latest)
        logger.info("resuming %s after epoch %d of %d", spec.latest_path, start_epoch, spec.epochs)
        if context.is_main:
            shown = net if average is None else average.network
            _complete_resumed_epoch(spec, start_epoch, history, shown)
    elif spec.pretrained_model:
        ckpt = load_checkpoint(spec.pretrained_model)
        check_compatible(ckpt, spec.arch, spec.cube_size, spec.pretrained_model)
        load_weights(net, ckpt["model_state"], spec.arch, spec.pretrained_model)
        logger.info("starting from the weights of %s", spec.pretrained_model)
    if spec.ema_decay > 0 and average is None:
        average = WeightAverage(net, spec.ema_decay)
    network = compiled(net, device) if spec.compile else net  # what the steps call
    model = data_parallel(network, device, world_size)
    strategy = make_strategy(spec.settings, physics_of(tomoset), spec.cube_size, device)
    logger.info(
        "training %s (%s, cube %d) on %s: %s x %s of %d subtomograms%s",
        spec.settings.method,
        spec.arch,
        spec.cube_size,
        device if world_size == 1 else f"{world_size} x {device.type}",
        counted(spec.epochs, "epoch"),
        counted(steps_per_epoch, "step"),
        spec.batch_size * spec.acc_batches,
        f", {amp} autocast" if amp else "",
    )

    # ---- loop
    for epoch in range(start_epoch, spec.epochs):
        level = noise_level_at(epoch, spec.noise_levels, spec.noise_start_epochs)
        epoch_strategy = strategy.with_noise_level(level)
        dataset = CubeDataset(tomoset, sampler.centres(epoch), seed=spec.seed, epoch=epoch)
        loader = make_loader(
            dataset,
            batch_size,
            num_workers=spec.num_workers,
            pin_memory=device.type == "cuda",
        )
        generator = torch.Generator().manual_seed(
            (spec.seed * 100_003 + epoch) * world_size + context.rank
        )
        model.train()
        # loss, n2n and mw sums stay on the device: reading them back every step would stall
        # the GPU queue; they are read every READ_BACK_EVERY batches and at the end
        device_sums = torch.zeros(3, dtype=torch.float64, device=device)
        finite = torch.ones((), dtype=torch.bool, device=device)
        count, started = 0, time.perf_counter()
        # time spent waiting for the loader, worker start-up included (the GPU queue is short
        # and read back often, so a long wait here means the data, not the GPU, held us up)
        waited, ready = 0.0, started
        with EpochBatches(loader) as batches:  # the workers end with the pass, however it ends
            bar = progress_bar(
                batches,
                total=steps_per_epoch * spec.acc_batches,
                desc=f"epoch {epoch + 1}/{spec.epochs}",
                unit="batch",
                mininterval=1.0 if sys.stderr.isatty() else 30.0,
                disable=not context.is_main,
            )
            for i, batch in enumerate(bar):
                raise_if_stopped()
                if i >= steps_per_epoch * spec.acc_batches:
                    break
                waited += time.perf_counter() - ready
                step = epoch * steps_per_epoch + i // spec.acc_batches
                for group in optimizer.param_groups:
                    group["lr"] = cosine_learning_rate(
                        step, total_steps, spec.learning_rate, spec.learning_rate_min, warmup_steps
                    )
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                steps_now = (i + 1) % spec.acc_batches == 0  # the last of acc_batches micro-batches
                with _gradient_sync(model, steps_now):
                    with torch.autocast(
                        device.type, dtype=amp or torch.float32, enabled=amp is not None
                    ):
                        example = epoch_strategy.prepare(batch, network, generator)
                        output = model(example.inputs)
                    prediction = example.network_output(output).float()
                    terms = masked_loss(
                        prediction,
                        example.targets,
                        example.n2n_band,
                        example.mw_band,
                        spec.settings.mw_weight,
                        base_loss,
                    )
                    finite &= torch.isfinite(terms.total.detach())
                    scaler.scale(terms.total / spec.acc_batches).backward()
                if steps_now:
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    if average is not None:
                        average.update(net)
                device_sums += torch.stack((terms.total.detach(), terms.n2n, terms.mw)).double()
                count += 1
                if count % READ_BACK_EVERY == 0:
                    _check_finite(finite, epoch)
                    bar.set_postfix(loss=f"{float(device_sums[0]) / count:.4g}", refresh=False)
                ready = time.perf_counter()
            bar.close()
        _check_finite(finite, epoch)

        # ---- checkpoint and log
        seconds = time.perf_counter() - started
        extra = torch.tensor([float(count), waited], dtype=torch.float64, device=device)
        totals = torch.cat((device_sums, extra))  # on the device: NCCL reduces only CUDA tensors
        if world_size > 1:  # every rank's loss sums and batches; the mean data wait
            dist.all_reduce(totals)
            totals[-1] /= world_size
        *loss_sums, batches, waited = totals.tolist()
        count = int(batches)
        names = ("loss", "n2n_loss", "mw_loss")
        record = {k: v / max(count, 1) for k, v in zip(names, loss_sums, strict=True)}
        record.update(
            epoch=float(epoch + 1),
            seconds=seconds,
            data_wait_s=waited,
            subtomos_per_s=count * batch_size / seconds,
            learning_rate=float(optimizer.param_groups[0]["lr"]),
            noise_level=level,
        )
        history.append(record)
        if context.is_main:
            _report(spec, net, average, optimizer, scaler, epoch + 1, history)
        if world_size > 1:  # the others wait until rank 0's checkpoint of this epoch is on disk
            dist.barrier()
    if start_epoch >= spec.epochs:
        logger.info(
            "%s already holds %s (%d asked for); nothing to train",
            spec.latest_path,
            counted(start_epoch, "epoch"),
            spec.epochs,
        )
    return TrainResult(spec.latest_path, history, spec.epochs)


def _check_finite(finite: torch.Tensor, epoch: int) -> None:
    """One line, not a run of NaN weights, once any loss so far was infinite or NaN."""
    if not bool(finite):
        raise InputError(
            f"the loss became infinite or NaN in epoch {epoch + 1}; try a lower "
            "--learning_rate or --mixed_precision False"
        )


def _gradient_sync(model: torch.nn.Module, steps_now: bool) -> AbstractContextManager[object]:
    """Where gradients of one micro-batch's forward and backward are averaged across ranks.

    A DistributedDataParallel model all-reduces them only on the micro-batch that steps the
    optimizer (no_sync() on the others, which just accumulate); a single process never does.
    """
    if isinstance(model, DistributedDataParallel) and not steps_now:
        return model.no_sync()
    return nullcontext()


def _report(
    spec: TrainSpec,
    net: torch.nn.Module,
    average: WeightAverage | None,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    epoch: int,
    history: list[dict[str, float]],
) -> None:
    """Rank 0's end of an epoch: numbered checkpoint, loss plot, log line, the latest
    checkpoint, preview.

    The latest checkpoint is what a rerun resumes from, so it comes after everything of the
    epoch but the preview: a run killed before it trains the epoch again and writes all of
    it (written first, a kill just after it lost the numbered copy for good). A preview cut
    short is made when the run resumes (`_complete_resumed_epoch`).
    """
    record = history[-1]
    if epoch % spec.save_interval == 0:
        _save(spec, net, average, optimizer, scaler, epoch, history, spec.epoch_path(epoch))
    plot_losses(history, spec.loss_plot_path)
    # the single-map recipe adds noise: then each epoch's level is logged
    noise = spec.settings.method == "isonet2" and any(level > 0 for level in spec.noise_levels)
    logger.info(
        "epoch %d/%d  loss %.5g  n2n %.5g  mw %.5g  lr %.3g%s  %.1f subtomos/s  "
        "(%.0f%% of it waiting for data)",
        epoch,
        spec.epochs,
        record["loss"],
        record["n2n_loss"],
        record["mw_loss"],
        record["learning_rate"],
        f"  noise {record['noise_level']:g}" if noise else "",
        record["subtomos_per_s"],
        100.0 * record["data_wait_s"] / max(record["seconds"], 1e-9),
    )
    _save(spec, net, average, optimizer, scaler, epoch, history, spec.latest_path)
    if spec.preview is not None and _preview_due(spec, epoch):
        spec.preview(epoch, net if average is None else average.network)


def _preview_due(spec: TrainSpec, epoch: int) -> bool:
    return epoch % spec.save_interval == 0 or epoch == spec.epochs


def _complete_resumed_epoch(
    spec: TrainSpec, epoch: int, history: list[dict[str, float]], model: torch.nn.Module
) -> None:
    """What a run stopped after its latest checkpoint of `epoch` had not yet written.

    Its numbered copy (runs of versions that wrote the latest checkpoint first), the loss
    plot of the checkpoint's history, and a preview that was cut short.
    """
    numbered = spec.epoch_path(epoch)
    if epoch % spec.save_interval == 0 and not numbered.exists():
        copy_atomic(spec.latest_path, numbered)
        logger.info("wrote the missing %s from %s", numbered.name, spec.latest_path.name)
    if history:
        plot_losses(history, spec.loss_plot_path)
    if spec.preview is not None and _preview_due(spec, epoch):
        spec.preview(epoch, model, missing_only=True)


def _save(
    spec: TrainSpec,
    model: torch.nn.Module,
    average: WeightAverage | None,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    epoch: int,
    history: list[dict[str, float]],
    path: Path,
) -> None:
    """The checkpoint: model_state is what predict uses (the average, if kept).

    A stop signal arriving meanwhile waits until the file is complete (`stop_deferred`).
    """
    with stop_deferred():
        save_checkpoint(
            path,
            model_state=model.state_dict() if average is None else average.state_dict(),
            training_state=None if average is None else model.state_dict(),
            arch=spec.arch,
            arch_kwargs=architecture_kwargs(spec.arch),
            cube_size=spec.cube_size,
            method=spec.settings.method,
            physics=dataclasses.asdict(spec.settings),
            normalisation=dict(NORMALISATION),
            config=spec.config,
            epoch=epoch,
            optimizer_state=optimizer.state_dict(),
            # the learning rate is a pure function of the step (schedule.py): epochs done is enough
            scheduler_state={"epochs_done": epoch, "schedule": "cosine"},
            scaler_state=scaler.state_dict() if scaler.is_enabled() else None,
            metrics={"history": history},
            y_half=spec.y_half,
        )
