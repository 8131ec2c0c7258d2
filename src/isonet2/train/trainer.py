"""The training loop of refine and denoise, read top to bottom.

Example:
    result = train(spec, tomoset, device)       # spec: TrainSpec, tomoset: data.TomogramSet
    print(result.checkpoint)                    # .../network_isonet2-n2n_unet-medium_96_full.pt

setup -> model / optimizer / resume -> loop (lr, batch, target strategy, forward, loss, step)
-> checkpoint and log. Method and CTF-mode differences live in the target strategy chosen
once before the loop. The latest checkpoint is rewritten atomically after every epoch, so a
run killed at any moment resumes from its last finished epoch and trains every requested one.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm import tqdm

from isonet2.data.batches import CubeDataset, make_loader
from isonet2.data.sampler import SubtomogramSampler
from isonet2.data.tomograms import TomogramSet
from isonet2.errors import InputError
from isonet2.io.checkpoint import load_checkpoint, save_checkpoint
from isonet2.nn.registry import architecture_kwargs, build_model, check_cube_size
from isonet2.targets.settings import TargetSettings, TomogramPhysics
from isonet2.targets.strategy import make_strategy
from isonet2.train.devices import autocast_dtype
from isonet2.train.losses import get_base_loss, masked_loss
from isonet2.train.plots import plot_losses
from isonet2.train.schedule import cosine_learning_rate, noise_level_at

logger = logging.getLogger(__name__)

NORMALISATION = {"policy": "central-60-slices mean/std, contrast inverted", "slices": 60}


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
    y_half: Literal["top", "bottom"] | None = None
    suffix: str = "full"  # "full", or "top"/"bottom" for split_halves
    preview: Callable[[int, torch.nn.Module], None] | None = None

    @property
    def latest_path(self) -> Path:
        """The checkpoint rewritten every epoch."""
        return self.output_dir / f"{self.checkpoint_stem}_{self.suffix}.pt"

    def epoch_path(self, epoch: int) -> Path:
        """The numbered copy kept every save_interval epochs."""
        return self.output_dir / f"{self.checkpoint_stem}_epoch{epoch}_{self.suffix}.pt"


@dataclass
class TrainResult:
    """Where the final model is and how the loss went."""

    checkpoint: Path
    history: list[dict[str, float]]
    epochs_trained: int


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
    try:
        if (
            path.exists()
            and Path(f"/proc/self/fd/{sys.stderr.fileno()}").resolve() == path.resolve()
        ):
            return None
    except (OSError, ValueError):
        pass
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logging.getLogger("isonet2").addHandler(handler)
    return handler


def _check_compatible(ckpt: dict[str, Any], spec: TrainSpec, source: str) -> None:
    for key, wanted in (("arch", spec.arch), ("cube_size", spec.cube_size)):
        if ckpt[key] != wanted:
            raise InputError(
                f"{source}: the checkpoint has {key} {ckpt[key]} but this run uses {wanted}; "
                f"use --{key} {ckpt[key]} or another model"
            )


def train(spec: TrainSpec, tomoset: TomogramSet, device: torch.device) -> TrainResult:
    """Train one network on `tomoset` per `spec`; returns the final checkpoint's path."""
    # ---- setup
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    handler = _file_logger(spec)
    try:
        return _train(spec, tomoset, device)
    except torch.cuda.OutOfMemoryError:
        raise InputError(
            f"{device} ran out of memory training {spec.arch} on {spec.batch_size} cubes of "
            f"{spec.cube_size}³; lower --batch_size (and raise --acc_batches) or --cube_size"
        ) from None
    finally:
        if handler is not None:
            logging.getLogger("isonet2").removeHandler(handler)
            handler.close()


def _train(spec: TrainSpec, tomoset: TomogramSet, device: torch.device) -> TrainResult:
    check_cube_size(spec.arch, spec.cube_size)
    torch.manual_seed(spec.seed)
    amp = autocast_dtype(device, spec.mixed_precision)
    base_loss = get_base_loss(spec.loss_func)
    sampler = SubtomogramSampler(tomoset, spec.cube_size, seed=spec.seed, y_half=spec.y_half)
    steps_per_epoch = len(sampler) // spec.batch_size // spec.acc_batches
    if steps_per_epoch < 1:
        raise InputError(
            f"an epoch has {len(sampler)} subtomograms, fewer than one step of "
            f"{spec.batch_size * spec.acc_batches}; raise rlnNumberSubtomo or lower --batch_size"
        )
    total_steps = spec.epochs * steps_per_epoch

    # ---- model, optimizer, resume
    model = build_model(spec.arch).to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed cube shapes: let cuDNN pick kernels
        model = model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    start_epoch, history = 0, []
    if spec.resume and spec.latest_path.exists():
        ckpt = load_checkpoint(spec.latest_path)
        _check_compatible(ckpt, spec, str(spec.latest_path))
        model.load_state_dict(ckpt["model_state"])
        if ckpt.get("optimizer_state"):
            optimizer.load_state_dict(ckpt["optimizer_state"])
        if ckpt.get("scaler_state"):
            scaler.load_state_dict(ckpt["scaler_state"])
        start_epoch = int(ckpt["epoch"])
        history = list((ckpt.get("metrics") or {}).get("history", []))
        logger.info("resuming %s after epoch %d of %d", spec.latest_path, start_epoch, spec.epochs)
    elif spec.pretrained_model:
        ckpt = load_checkpoint(spec.pretrained_model)
        _check_compatible(ckpt, spec, spec.pretrained_model)
        model.load_state_dict(ckpt["model_state"])
        logger.info("starting from the weights of %s", spec.pretrained_model)
    strategy = make_strategy(spec.settings, physics_of(tomoset), spec.cube_size, device)
    logger.info(
        "training %s (%s, cube %d) on %s: %d epochs x %d steps of %d subtomograms%s",
        spec.settings.method,
        spec.arch,
        spec.cube_size,
        device,
        spec.epochs,
        steps_per_epoch,
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
            spec.batch_size,
            num_workers=spec.num_workers,
            pin_memory=device.type == "cuda",
        )
        generator = torch.Generator().manual_seed(spec.seed * 100_003 + epoch)
        model.train()
        sums = {"loss": 0.0, "n2n_loss": 0.0, "mw_loss": 0.0}
        count, started = 0, time.perf_counter()
        bar = tqdm(
            loader,
            total=steps_per_epoch * spec.acc_batches,
            desc=f"epoch {epoch + 1}/{spec.epochs}",
            unit="batch",
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
        )
        for i, batch in enumerate(bar):
            if i >= steps_per_epoch * spec.acc_batches:
                break
            step = epoch * steps_per_epoch + i // spec.acc_batches
            for group in optimizer.param_groups:
                group["lr"] = cosine_learning_rate(
                    step, total_steps, spec.learning_rate, spec.learning_rate_min
                )
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                example = epoch_strategy.prepare(batch, model, generator)
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
            if not torch.isfinite(terms.total):
                raise InputError(
                    f"the loss became {terms.total.item()} at epoch {epoch + 1}, batch {i + 1}; "
                    "try a lower --learning_rate or --mixed_precision False"
                )
            scaler.scale(terms.total / spec.acc_batches).backward()
            if (i + 1) % spec.acc_batches == 0:
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
            sums["loss"] += float(terms.total.detach())
            sums["n2n_loss"] += float(terms.n2n)
            sums["mw_loss"] += float(terms.mw)
            count += 1
            bar.set_postfix(loss=f"{sums['loss'] / count:.4g}", refresh=False)
        bar.close()

        # ---- checkpoint and log
        seconds = time.perf_counter() - started
        record = {k: v / max(count, 1) for k, v in sums.items()}
        record.update(
            epoch=float(epoch + 1),
            seconds=seconds,
            subtomos_per_s=count * spec.batch_size / seconds,
            learning_rate=float(optimizer.param_groups[0]["lr"]),
            noise_level=level,
        )
        history.append(record)
        _save(spec, model, optimizer, scaler, epoch + 1, history, spec.latest_path)
        if (epoch + 1) % spec.save_interval == 0:
            _save(spec, model, optimizer, scaler, epoch + 1, history, spec.epoch_path(epoch + 1))
        plot_losses(history, spec.output_dir / "loss_full.png")
        logger.info(
            "epoch %d/%d  loss %.5g  n2n %.5g  mw %.5g  lr %.3g  %.1f subtomos/s",
            epoch + 1,
            spec.epochs,
            record["loss"],
            record["n2n_loss"],
            record["mw_loss"],
            record["learning_rate"],
            record["subtomos_per_s"],
        )
        if spec.preview is not None and (
            (epoch + 1) % spec.save_interval == 0 or epoch + 1 == spec.epochs
        ):
            spec.preview(epoch + 1, model)
    if start_epoch >= spec.epochs:
        logger.info("%s already holds all %d epochs", spec.latest_path, spec.epochs)
    return TrainResult(spec.latest_path, history, spec.epochs)


def _save(
    spec: TrainSpec,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    epoch: int,
    history: list[dict[str, float]],
    path: Path,
) -> None:
    save_checkpoint(
        path,
        model_state=model.state_dict(),
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
    )
