"""denoise: train a Noise2Noise network (method n2n) on even/odd half tomograms.

Example:
    isonet.py denoise tomograms.star -o 03_test --CTF_mode network

The network learns to predict one half from the other; with --CTF_mode network or wiener it
also corrects the CTF. Rerunning into the same output folder resumes an unfinished run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from isonet2.config import DenoiseConfig, PredictConfig
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import read_star
from isonet2.pipeline import predict
from isonet2.pipeline.training import Previewer, make_spec, open_for_method, target_settings
from isonet2.train.devices import select_devices
from isonet2.train.trainer import TrainResult, train

logger = logging.getLogger(__name__)


def run(cfg: DenoiseConfig) -> TrainResult:
    """Train the denoiser; optionally predict every tomogram after."""
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_run_config(cfg, output_dir / "denoise_config.json")
    table = read_star(cfg.star_file)
    tomoset = open_for_method(table, "n2n", None, cfg.cube_size)
    devices = select_devices(cfg.gpuID)
    if len(devices) > 1:
        logger.warning("training on several GPUs is not available yet; using %s", devices[0])
    device = devices[0]
    settings = target_settings(cfg, "n2n")
    preview = (
        Previewer(
            table, cfg.prev_tomo_idx, settings, cfg.cube_size, device, output_dir / "preview", None
        )
        if cfg.with_preview
        else None
    )
    result = train(make_spec(cfg, "n2n", settings, devices=1, preview=preview), tomoset, device)
    if cfg.with_predict:
        predict.run(
            PredictConfig(
                star_file=cfg.star_file,
                model=str(result.checkpoint),
                output_dir=str(output_dir / "denoised"),
                gpuID=cfg.gpuID,
            )
        )
    return result
