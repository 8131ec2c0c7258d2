"""Average the predictions of shifted copies of each map: shift averaging at prediction time.

An experiment for the restoration-quality target (README, Measured). A U-Net with four
stride-2 levels is equivariant only to shifts that are multiples of 16 voxels, and predict's
tile grid is fixed too, so a map predicted from a copy shifted by a few voxels is not the
shifted prediction: the difference is the network's aliasing and its tile seams, which
averaging over shifts reduces, much as `--tta` does over orientations.

Each shift (dz, dy, dx) pads the map at its low faces by reflection, predicts it with
`isonet.py predict` and crops the result back; the running average after 1, 2 and all the
shifts is scored with `isonet.py evaluate` against the ground truth. The first shift is
(0, 0, 0), the plain prediction; the second the all-axes shift, then the others.

Measured (benchmarks/QUALITY.md, ninth set; H100, two models of 2,500 subtomograms, predicted
with `--tta --tta_mirrors --tile_size 128 --input_column rlnTomoName`): two shifts against one
changed the in-wedge FSC by +0.000 / +0.001 and the out-of-wedge FSC by +0.000 / +0.001, so
predict does not shift. The eight orientations and the overlapping 128³ tiles already average
what shifts would.

Run from the folder the star's relative paths start in (refine_quality.sh's work folder):
    python benchmarks/shift_tta.py sim/tomograms.star refine/MODEL.pt shift_tta \
        --ground_truth sim/ground_truth --shift 8 -- --tta --tta_mirrors --tile_size 128 \
        --input_column rlnTomoName --gpuID 0
Everything after `--` is passed to predict. Prints one line per ensemble size.
"""

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from isonet2.io.mrc import read_info, read_volume, write_volume
from isonet2.io.star import read_star, write_star


def isonet(*words: str) -> None:
    """Run one isonet2 command in this Python; stop on its failure."""
    subprocess.run([sys.executable, "-m", "isonet2", *words], check=True)


def shifts_in_order(step: int) -> list[tuple[int, int, int]]:
    """(0,0,0), then (step, step, step), then the other corners of {0, step}^3."""
    corners = list(itertools.product((0, step), repeat=3))
    first = [(0, 0, 0), (step, step, step)]
    return first + [c for c in corners if c not in first]


def predict_shifted(
    star: Path, model: str, folder: Path, shift: tuple[int, int, int], column: str, flags: list[str]
) -> dict[int, np.ndarray]:
    """Predict every row's map padded by `shift` at its low faces; the outputs cropped back."""
    table = read_star(star)
    rows = []
    for row in table.rows:
        source = row.path_in_column(column)
        info = read_info(source)
        padded = np.pad(read_volume(source), [(s, 0) for s in shift], mode="reflect")
        target = folder / "maps" / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_volume(target, padded, voxel_size_angstrom=info.voxel_size_angstrom)
        rows.append(dataclasses.replace(row, tomogram_path=str(target), corrected_path=None))
    shifted_star = folder / "tomograms.star"
    write_star(dataclasses.replace(table, rows=rows), shifted_star)
    isonet("predict", str(shifted_star), model, "--outputdir", str(folder / "corrected"), *flags)
    dz, dy, dx = shift
    return {
        row.index: read_volume(row.corrected_path)[dz:, dy:, dx:]
        for row in read_star(shifted_star).rows
    }


def score(
    star: Path,
    sums: dict[int, np.ndarray],
    count: int,
    folder: Path,
    ground_truth: str,
    names: dict[int, str],
    voxel: dict[int, tuple],
) -> list[dict]:
    """Write the average of `count` predictions per row and score it; evaluate's rows."""
    table = read_star(star)
    rows = []
    for row in table.rows:
        path = folder / "maps" / names[row.index]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_volume(
            path, (sums[row.index] / count).astype(np.float32), voxel_size_angstrom=voxel[row.index]
        )
        rows.append(dataclasses.replace(row, corrected_path=str(path)))
    scored_star = folder / "tomograms.star"
    write_star(dataclasses.replace(table, rows=rows), scored_star)
    isonet(
        "evaluate",
        "--star",
        str(scored_star),
        "--column",
        "rlnCorrectedTomoName",
        "--ground_truth",
        ground_truth,
        "-o",
        str(folder / "eval"),
    )
    lines = (folder / "eval" / "evaluate.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)  # predict's own flags after it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("star", type=Path)
    parser.add_argument("model")
    parser.add_argument("work", type=Path)
    parser.add_argument("--ground_truth", required=True)
    parser.add_argument("--shift", type=int, default=8, help="voxels of the shifts")
    parser.add_argument("--count", type=int, default=8, help="how many shifts (1-8)")
    parser.add_argument("--column", default="rlnTomoName", help="the maps to predict")
    args = parser.parse_args(argv[:split])
    predict_flags = argv[split + 1 :]
    sums: dict[int, np.ndarray] = {}
    names: dict[int, str] = {}
    voxel: dict[int, tuple] = {}
    for n, shift in enumerate(shifts_in_order(args.shift)[: args.count], start=1):
        folder = args.work / f"shift_{shift[0]}_{shift[1]}_{shift[2]}"
        maps = predict_shifted(args.star, args.model, folder, shift, args.column, predict_flags)
        for index, volume in maps.items():
            sums[index] = sums.get(index, 0) + volume.astype(np.float64)
        if n == 1:
            for row in read_star(folder / "tomograms.star").rows:
                names[row.index] = Path(row.corrected_path).name
                voxel[row.index] = read_info(row.corrected_path).voxel_size_angstrom
        if n in (1, 2, 4, args.count):
            rows = score(
                args.star, sums, n, args.work / f"average_{n}", args.ground_truth, names, voxel
            )
            ins = " / ".join(f"{r['mean_fsc_in_wedge']:.3f}" for r in rows)
            outs = " / ".join(f"{r['mean_fsc_out_of_wedge']:.3f}" for r in rows)
            print(f"shifts {n}: in {ins}   out {outs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
