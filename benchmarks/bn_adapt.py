"""Re-estimate a checkpoint's BatchNorm statistics on the tiles prediction will feed it.

An experiment for the restoration-quality target (README, Measured): the running mean and
variance a checkpoint carries are a moving average (momentum 0.1) over the last few training
batches of 2-4 cubes, taken from half maps; `predict --input_column rlnTomoName` feeds the
full map, whose noise is half as strong. This script draws random tiles from the maps the
star names, prepared exactly as predict prepares them (normalised, phase-flipped, wedge-
filtered), runs them through the network in training mode without gradients, replaces the
running statistics by the plain average over those batches, and saves a new checkpoint.

Measured (benchmarks/QUALITY.md, seventh set): it lowers the in-wedge FSC by 0.002-0.004 and the
out-of-wedge FSC by 0.007-0.010, so predict keeps the checkpoint's own statistics.

Usage:
    python benchmarks/bn_adapt.py STAR MODEL.pt OUT.pt [--input_column rlnTomoName]
        [--tiles 64] [--tile_size 128] [--batch_size 4] [--seed 0]
"""

import argparse
import sys

import numpy as np
import torch

from isonet2.io.checkpoint import load_checkpoint, save_checkpoint
from isonet2.io.star import read_star
from isonet2.nn.registry import model_from_checkpoint
from isonet2.predict.inputs import open_sources, plan_row, tile_filters_for
from isonet2.predict.predictor import TilePredictor
from isonet2.predict.tiling import read_tile
from isonet2.train.devices import autocast_dtype


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("star")
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--input_column", default=None)
    parser.add_argument("--tiles", type=int, default=64, help="tiles per map")
    parser.add_argument("--tile_size", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ckpt = load_checkpoint(args.model)
    model = model_from_checkpoint(ckpt).to(device)
    cube = args.tile_size or int(ckpt["cube_size"])
    physics = dict(ckpt["physics"])
    predictor = TilePredictor(model, cube, device, args.batch_size, autocast_dtype(device, True))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over every batch below
    model.train()
    rng = np.random.default_rng(args.seed)
    batches = 0
    for row in read_star(args.star).rows:
        plan = plan_row(row, method=ckpt["method"], input_column=args.input_column)
        filters = tile_filters_for(
            row,
            physics,
            cube=cube,
            device=device,
            apply_mw_x1=physics.get("apply_mw_x1", True),
            is_ctf_flipped=physics.get("is_ctf_flipped", False),  # as predict does now
            do_phaseflip_input=physics.get("do_phaseflip_input", True),
        )
        for volume, stats in open_sources(plan):
            shape = volume.shape
            for _ in range(args.tiles // args.batch_size):
                starts = [
                    tuple(int(rng.integers(0, max(1, n - cube + 1))) for n in shape)
                    for _ in range(args.batch_size)
                ]
                tiles = torch.from_numpy(
                    np.stack([read_tile(volume, start, cube)[None] for start in starts])
                )
                predictor._network(tiles, stats, filters)
                batches += 1
    model.eval()
    for norm in norms:
        norm.momentum = 0.1
    keep = {k: ckpt[k] for k in ("optimizer_state", "scheduler_state", "scaler_state", "metrics")}
    save_checkpoint(
        args.out,
        model_state=model.state_dict(),
        arch=ckpt["arch"],
        arch_kwargs=ckpt["arch_kwargs"],
        cube_size=int(ckpt["cube_size"]),
        method=ckpt["method"],
        physics=physics,
        normalisation=ckpt["normalisation"],
        config=ckpt["config"],
        epoch=int(ckpt["epoch"]),
        **keep,
    )
    print(f"bn_adapt: {len(norms)} norms re-estimated from {batches} batches -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
