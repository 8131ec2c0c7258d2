"""Refine with one training detail changed: training-time experiments for the quality target.

An experiment for the restoration-quality target (README, Measured; benchmarks/QUALITY.md);
runs `isonet.py refine` in this Python with one thing changed and passes everything after
`--` to it:

- `--noise_scale S`: the noise added to the first pass before it fills the wedge (ALGORITHM
  §5 step 4, delta * N(0, 1)) is S times stronger. delta matches the variance of the raw
  halves' noise over the whole cube, but that noise lives where the tilt series measured,
  and mostly inside the Nyquist sphere, while the added noise is white over the whole cube.
  In a simulated `cell` tomogram (96³ crop of (even - odd), ±60°) 98 % of the noise power is
  in the measured region, and its power per Fourier voxel inside the sphere, where the
  network's inputs live, is 2.4 times the cube's mean: the filled part of a training input
  carries about 0.4 of the measured part's noise there. S = 1.5 evens that out on average
  (white noise stays flatter than the raw noise, which rises with frequency).
- `--weight_decay W`: AdamW's decoupled weight decay is W instead of torch's 0.01.

Measured (benchmarks/QUALITY.md, thirteenth set; H100, the short-run recipe, seed 0, against
the recipe's 0.409 / 0.393 in the wedge on the same machine): noise × 0.7, 1.2 and 1.5 scored
0.398 / 0.385, 0.405 / 0.389 and 0.403 / 0.390; weight decay 0.1 0.404 / 0.388. Training
stays as ALGORITHM §5 and torch have it.

Run like refine_quality.sh's refine, e.g. from its work folder:
    python benchmarks/train_variant.py --noise_scale 1.2 -- sim/tomograms.star -o refine \
        --CTF_mode network --gpuID 0 ...
or through refine_quality.sh with REFINE_CMD="python benchmarks/train_variant.py
--noise_scale 1.2 --".
"""

import argparse
import functools
import sys

import torch

import isonet2.targets.noise2noise as noise2noise
from isonet2.cli import run

unscaled_normal = noise2noise.standard_normal


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise_scale", type=float, default=1.0)
    parser.add_argument("--weight_decay", type=float, default=None)
    args = parser.parse_args(argv[:split])
    if not args.noise_scale >= 0:
        parser.error(f"--noise_scale must be 0 or more, got {args.noise_scale}")

    def scaled_normal(
        shape: torch.Size, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        return args.noise_scale * unscaled_normal(shape, generator, device)

    # the isonet2-n2n strategy looks the name up in its own module at each batch
    noise2noise.standard_normal = scaled_normal
    if args.weight_decay is not None:
        torch.optim.AdamW = functools.partial(  # type: ignore[assignment,misc]
            torch.optim.AdamW, weight_decay=args.weight_decay
        )
    return run(["refine", *argv[split + 1 :]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
