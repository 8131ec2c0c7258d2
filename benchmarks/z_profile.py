"""The Z-profile of simulated tomograms: how much of the in-wedge score no method can earn.

A tomogram's Z-profile (the mean of every Z slice) is its kx = ky = 0 line in Fourier space,
inside the missing wedge for any tilt range, so a raw tomogram has none. Where the profile
holds a flat ice slab's edges or a membrane lying flat in the slab, the data show no trace of
it, and nothing seen at another orientation teaches a network to put it back. This script
prints (1) the in-wedge FSC that the ground truth scores with its Z-profile removed, shell by
shell (the low shells it loses are carried by the profile), and (2) each map's Z-profile next
to the truth's, each in units of its own std, with the Pearson r of the two profiles.

Example (a `benchmarks/refine_quality.sh` folder):
    python benchmarks/z_profile.py work/sim/ground_truth/sim_02.mrc \
        work/sim/full/sim_02.mrc work/corrected/sim_02_isonet2-n2n_unet-medium.mrc
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from isonet2.evaluate import evaluate
from isonet2.io.mrc import open_volume


def z_profile(volume: np.ndarray) -> np.ndarray:
    """Mean of every Z slice minus the volume's mean, over the volume's std."""
    profile = np.array([float(np.mean(s, dtype=np.float64)) for s in volume])
    std = float(np.std(volume, dtype=np.float64))
    return (profile - profile.mean()) / std


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("truth", type=Path, help="ground-truth map (z, y, x)")
    parser.add_argument("maps", type=Path, nargs="*", help="maps to compare, same shape")
    parser.add_argument("--pixel_size", type=float, default=10.0, help="Å per voxel")
    parser.add_argument("--tilt_range", type=float, nargs=2, default=(-60.0, 60.0))
    parser.add_argument("--every", type=int, default=8, help="print every this many slices")
    args = parser.parse_args()

    truth = np.asarray(open_volume(args.truth), dtype=np.float32)
    flat = truth - truth.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    scores = evaluate(
        flat,
        truth,
        pixel_size_angstrom=args.pixel_size,
        tilt_min_deg=args.tilt_range[0],
        tilt_max_deg=args.tilt_range[1],
    )
    shells = scores.curves["in wedge"][1]
    print(
        f"{args.truth.name}: the truth without its Z-profile scores {scores.mean_fsc_in_wedge:.3f}"
        f" in the wedge; shells 1-6: " + " ".join(f"{v:+.2f}" for v in shells[:6])
    )
    rows = {"truth": z_profile(truth)}
    for path in args.maps:
        rows[path.name] = z_profile(np.asarray(open_volume(path), dtype=np.float32))
    print("z slice  " + " ".join(f"{z:6d}" for z in range(0, truth.shape[0], args.every)))
    for name, profile in rows.items():
        r = float(np.corrcoef(profile, rows["truth"])[0, 1]) if profile.std() > 0 else 0.0
        values = " ".join(f"{v:+6.2f}" for v in profile[:: args.every])
        print(f"{name}\n  r {r:+.2f}  {values}")


if __name__ == "__main__":
    main()
