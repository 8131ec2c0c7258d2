"""Predict with a changed input scale or arithmetic: prediction-time experiments on one model.

An experiment for the restoration-quality target (README, Measured); runs `isonet.py predict`
in this Python with one thing changed and passes everything after `--` to it:

- `--input_scale S`: every input map's normalised values are S times larger (its central-slab
  std divided by S; 1 is predict itself). Training normalises each half map by its own std;
  `predict --input_column rlnTomoName` normalises the full map (even + odd) by its own,
  smaller std, so against the training cubes its noise is about as strong and its signal about
  √2 stronger. A U-Net is not linear, so the scale of what it is fed matters.
- `--fp32`: the network runs in float32 (TF32 off) instead of predict's bf16 autocast.

Measured (benchmarks/QUALITY.md, twelfth set; H100, two models of 2,500 subtomograms, predicted
with `--tta --tta_mirrors --tile_size 128 --input_column rlnTomoName`): predict's own scale is
the best of 0.65, 0.8, 1, 1.25 and 1.5 on both (0.8 costs 0.003-0.009 in the wedge, 1.25
0.03-0.04), and float32 changes the FSC by at most 0.001, so predict stays as it is.

Run from the folder the star's relative paths start in (refine_quality.sh's work folder):
    python benchmarks/predict_variant.py --input_scale 0.8 -- sim/tomograms.star \
        refine/MODEL.pt --outputdir corrected_0.8 --tta --tta_mirrors --tile_size 128 \
        --input_column rlnTomoName --gpuID 0
then score the maps with `isonet.py evaluate`.
"""

import argparse
import sys

import numpy as np
import torch

import isonet2.pipeline.predict as predict_pipeline
import isonet2.predict.inputs as inputs
from isonet2.cli import run

unscaled_stats = inputs.usable_slab_stats


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_scale", type=float, default=1.0)
    parser.add_argument("--fp32", action="store_true")
    args = parser.parse_args(argv[:split])
    if not args.input_scale > 0:
        parser.error(f"--input_scale must be positive, got {args.input_scale}")

    def scaled_stats(volume: np.ndarray, path: object) -> tuple[float, float]:
        mean, std = unscaled_stats(volume, path)
        return mean, std / args.input_scale

    inputs.usable_slab_stats = scaled_stats  # open_sources looks it up at each call
    if args.fp32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        predict_pipeline.autocast_dtype = lambda device, enabled: None  # type: ignore[assignment]
    return run(["predict", *argv[split + 1 :]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
