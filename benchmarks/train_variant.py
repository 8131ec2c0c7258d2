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
- `--clip_grad_norm N`: before every optimizer step the gradients (unscaled, where fp16's
  grad scaler runs) are clipped to a total 2-norm of N; after the run one line gives the
  norms' 10 / 50 / 90 % quantiles and how often the clip acted.

Measured (benchmarks/QUALITY.md, thirteenth set; H100, the short-run recipe, seed 0, against
the recipe's 0.409 / 0.393 in the wedge on the same machine): noise × 0.7, 1.2 and 1.5 scored
0.398 / 0.385, 0.405 / 0.389 and 0.403 / 0.390; weight decay 0.1 0.404 / 0.388. Sixteenth set
(H100, batch 1 at 2e-3, seed 0, against 0.415 / 0.4015 without): a clip at 2 (3.3 % of the
steps clipped, median norm 0.61) scored 0.415 / 0.402, AdamW's beta2 at 0.99 0.418 / 0.404.
beta2 first ran here; it helped over five seeds and is now refine's `--adamw_beta2`.

Run like refine_quality.sh's refine, e.g. from its work folder:
    python benchmarks/train_variant.py --noise_scale 1.2 -- sim/tomograms.star -o refine \
        --CTF_mode network --gpuID 0 ...
or through refine_quality.sh with REFINE_CMD="python benchmarks/train_variant.py
--noise_scale 1.2 --".
"""

import argparse
import sys
from typing import Any

import torch

import isonet2.targets.noise2noise as noise2noise
from isonet2.cli import run

unscaled_normal = noise2noise.standard_normal
unpatched_adamw = torch.optim.AdamW


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise_scale", type=float, default=1.0)
    parser.add_argument("--weight_decay", type=float, default=None)
    parser.add_argument("--clip_grad_norm", type=float, default=None)
    args = parser.parse_args(argv[:split])
    if not args.noise_scale >= 0:
        parser.error(f"--noise_scale must be 0 or more, got {args.noise_scale}")
    if args.clip_grad_norm is not None and not args.clip_grad_norm > 0:
        parser.error(f"--clip_grad_norm must be above 0, got {args.clip_grad_norm}")

    def scaled_normal(
        shape: torch.Size, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        return args.noise_scale * unscaled_normal(shape, generator, device)

    # the isonet2-n2n strategy looks the name up in its own module at each batch
    noise2noise.standard_normal = scaled_normal
    changes: dict[str, Any] = {}
    if args.weight_decay is not None:
        changes["weight_decay"] = args.weight_decay
    if changes or args.clip_grad_norm is not None:
        torch.optim.AdamW = variant_adamw(changes, args.clip_grad_norm)  # type: ignore[misc]
    status = run(["refine", *argv[split + 1 :]])
    if args.clip_grad_norm is not None and grad_norms:
        print(describe_norms(torch.stack(grad_norms).float().cpu(), args.clip_grad_norm))
    return status


grad_norms: list[torch.Tensor] = []  # each step's total 2-norm before clipping, on the device


def describe_norms(norms: torch.Tensor, clip_norm: float) -> str:
    """One line: how large the gradients were and how often the clip acted."""
    quantiles = torch.quantile(norms, torch.tensor([0.1, 0.5, 0.9]))
    clipped_percent = 100.0 * float((norms > clip_norm).float().mean())
    return (
        f"gradient 2-norm before clipping over {norms.numel()} steps: 10 / 50 / 90 % "
        + " / ".join(f"{float(q):.3g}" for q in quantiles)
        + f", max {float(norms.max()):.3g}; clipped to {clip_norm:g} in {clipped_percent:.1f} %"
    )


def variant_adamw(changes: dict[str, Any], clip_norm: float | None) -> type[torch.optim.AdamW]:
    """torch's AdamW with `changes` to its defaults, clipping gradients before each step."""

    class VariantAdamW(unpatched_adamw):
        def __init__(self, params: Any, **kwargs: Any) -> None:
            super().__init__(params, **{**changes, **kwargs})

        def step(self, closure: Any = None) -> Any:
            if clip_norm is not None:
                params = [p for group in self.param_groups for p in group["params"]]
                grad_norms.append(torch.nn.utils.clip_grad_norm_(params, clip_norm).detach())
            return super().step(closure)

    return VariantAdamW


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
