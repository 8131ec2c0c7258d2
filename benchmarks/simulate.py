"""Time `simulate_tomogram` (phantom, tilt series, both half reconstructions) on this machine.

Example:
    python benchmarks/simulate.py --shape 128,256,256 --seed 0 --preset cell

Prints the wall time in seconds and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time

import torch

from isonet2.simulate import PRESETS, simulate_tomogram


def parse_shape(text: str) -> tuple[int, int, int]:
    """'128,256,256' -> (128, 256, 256), in (z, y, x) order."""
    values = tuple(int(part) for part in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"--shape needs three integers z,y,x, got {text!r}")
    return values[0], values[1], values[2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=parse_shape, default=(128, 256, 256), help="z,y,x")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cell")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    started = time.perf_counter()
    result = simulate_tomogram(args.shape, seed=args.seed, preset=args.preset)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"simulate {args.preset} {args.shape} seed {args.seed}: {seconds:.2f} s, "
        f"{len(result.tilt_angles_deg)} tilts, peak RSS {peak_mib:.0f} MiB, "
        f"torch threads {torch.get_num_threads()}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
