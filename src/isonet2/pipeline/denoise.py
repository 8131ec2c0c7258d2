"""denoise: train a Noise2Noise network (method n2n) on even/odd half tomograms.

Example:
    isonet.py denoise tomograms.star -o 03_test --CTF_mode network

The network learns to predict one half from the other; with --CTF_mode network or wiener it
also corrects the CTF. Rerunning into the same output folder resumes an unfinished run.
With --gpuID 0,1 (or --cpu_workers 2 on the CPU) one data-parallel worker trains per GPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from isonet2.config import DenoiseConfig, PredictConfig
from isonet2.io.star import read_star
from isonet2.pipeline import predict
from isonet2.pipeline.training import (
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
    is_main_process,
)
from isonet2.train.trainer import TrainResult, train

logger = logging.getLogger(__name__)


def run(cfg: DenoiseConfig) -> TrainResult:
    """Train the denoiser; optionally predict every tomogram after."""
    output_dir = Path(cfg.output_dir)
    typed = set(cfg.model_fields_set)  # the flags given, before fitted values join them
    devices = select_devices(cfg.gpuID)  # a missing GPU is reported before any work
    cfg = fit_loader_workers(cfg, devices)
    main = is_main_process()
    if main:
        prepare_output_folder(cfg, "n2n", "denoise_config.json")
        warn_ignored_flags(cfg, "n2n", typed)
    result = launch(cfg, train_worker, devices)
    if cfg.with_predict:  # every rank: under an outer torchrun predict shares the tomograms
        predict.run(
            PredictConfig(
                star_file=cfg.star_file,
                model=str(result.checkpoint),
                output_dir=str(output_dir / "denoised"),
                gpuID=cfg.gpuID,
            )
        )
    return result


def train_worker(config: dict[str, object], devices: list[torch.device]) -> TrainResult:
    """One data-parallel worker (or the only process): train on its share of the cubes."""
    cfg = DenoiseConfig.model_validate(config)
    with worker_context(devices) as context:
        table = read_star(cfg.star_file)
        tomoset = open_for_method(table, "n2n", None, cfg.cube_size)
        if context.is_main:
            warn_without_defocus(table, cfg)
        settings = target_settings(cfg, "n2n")
        preview = previewer_for(cfg, table, settings, context, None)
        spec = make_spec(cfg, "n2n", settings, devices=context.world_size, preview=preview)
        return train(spec, tomoset, context)
