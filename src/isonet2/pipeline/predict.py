"""predict: apply a trained network to whole tomograms, streamed tile by tile.

Example:
    isonet.py predict tomograms.star 01_test/network_isonet2-n2n_unet-medium_96_full.pt --gpuID 0

Writes {output_dir}/{prefix}{stem}_{method}_{arch}.mrc per tomogram (voxel size kept) and
records it in rlnCorrectedTomoName (rlnDenoisedTomoName for denoise models). With --model2
(the _bottom.pt of split_halves) a second, independent map is written and the FSC between
the two maps is plotted and reported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from isonet2.config import PredictConfig
from isonet2.errors import InputError
from isonet2.evaluate import central_crop
from isonet2.fourier.fsc import fourier_shell_correlation, resolution_at_threshold
from isonet2.io.checkpoint import load_checkpoint
from isonet2.io.mrc import new_volume, open_volume, read_info
from isonet2.io.progress import progress_bar
from isonet2.io.runrecord import write_run_config
from isonet2.io.star import read_star, write_star
from isonet2.nn.registry import model_from_checkpoint
from isonet2.predict.inputs import open_sources, plan_row, tile_filters_for
from isonet2.predict.pictures import save_fsc_png
from isonet2.predict.predictor import TilePredictor
from isonet2.predict.tiling import TileGrid
from isonet2.train.devices import autocast_dtype, select_devices

logger = logging.getLogger(__name__)


@dataclass
class PredictResult:
    """The written maps (and second maps of --model2) and the half-map FSC resolutions (Å)."""

    outputs: list[Path] = field(default_factory=list)
    second_outputs: list[Path] = field(default_factory=list)
    resolutions_angstrom: dict[int, float] = field(default_factory=dict)


def _load(path: str, device: torch.device) -> tuple[dict, torch.nn.Module]:
    ckpt = load_checkpoint(path)
    return ckpt, model_from_checkpoint(ckpt).to(device).eval()


def run(cfg: PredictConfig) -> PredictResult:
    """Predict the selected rows of the star and record the outputs in it."""
    device = select_devices(cfg.gpuID)[0]
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
    method, arch, cube = ckpt["method"], ckpt["arch"], int(ckpt["cube_size"])
    physics = dict(ckpt["physics"])
    apply_mw = physics.get("apply_mw_x1", True) if cfg.apply_mw_x1 is None else cfg.apply_mw_x1
    batch = cfg.batch_size if cfg.batch_size != "auto" else (8 if device.type == "cuda" else 2)
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
    table = read_star(cfg.star_file)
    rows = table.select(cfg.selected_indices())
    plans = [plan_row(row, method=method, input_column=cfg.input_column) for row in rows]
    for plan in plans:
        for path in plan.paths:
            read_info(path)  # every input checked before the first hour of work
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_run_config(cfg, output_dir / "predict_config.json")
    total = sum(
        TileGrid.for_volume(read_info(p.paths[0]).shape, cube, cfg.padding_factor).count
        * len(p.paths)
        * len(models)
        for p in plans
    )
    result = PredictResult()
    logger.info(
        "predicting %d tomograms with %s (%s, %s, cube %d) on %s",
        len(rows),
        cfg.model,
        method,
        arch,
        cube,
        device,
    )
    started = time.perf_counter()
    voxels = 0
    with progress_bar(total=total, desc="predict", unit="tile") as bar:
        for row, plan in zip(rows, plans, strict=True):
            sources = open_sources(plan)
            info = read_info(plan.paths[0])
            filters = tile_filters_for(
                row,
                physics,
                cube=cube,
                device=device,
                apply_mw_x1=apply_mw,
                is_ctf_flipped=cfg.isCTFflipped,
                do_phaseflip_input=cfg.do_phaseflip_input,
            )
            voxels += int(np.prod(info.shape))
            written = []
            for number, predictor in enumerate(predictors):
                tag = "" if number == 0 else "_model2"
                target = output_dir / f"{cfg.output_prefix}{plan.stem}_{method}_{arch}{tag}.mrc"
                with new_volume(
                    target,
                    info.shape,
                    voxel_size_angstrom=info.voxel_size_angstrom,
                    origin_angstrom=info.origin_angstrom,
                ) as out:
                    predictor.predict_into(out, sources, filters, progress=bar.update)
                written.append(target)
            if method == "n2n":
                row.denoised_path = str(written[0])
            else:
                row.corrected_path = str(written[0])
            write_star(table, cfg.star_file)
            result.outputs.append(written[0])
            if len(written) == 2:
                result.second_outputs.append(written[1])
                result.resolutions_angstrom[row.index] = _half_map_fsc(
                    written, row.pixel_size_angstrom, output_dir / f"{plan.stem}_fsc.png"
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


def _half_map_fsc(paths: list[Path], pixel_size_angstrom: float, png: Path) -> float:
    a, b = (torch.from_numpy(central_crop(open_volume(p))) for p in paths)
    freq, fsc = fourier_shell_correlation(a, b)
    resolution = resolution_at_threshold(freq, fsc, 0.143, pixel_size_angstrom)
    save_fsc_png({"model vs model2": (freq.numpy(), fsc.numpy())}, pixel_size_angstrom, png)
    logger.info("FSC between the two maps: 0.143 at %.1f Å (%s)", resolution, png)
    return resolution
