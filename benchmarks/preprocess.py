"""Time `deconv` (whole and chunked) and `make_mask` on a random tomogram and measure peak memory.

Example:
    python benchmarks/preprocess.py --shape 200,1024,1024 --chunk_size 256 --ncpus 2

Each command runs through the command line in a fresh Python process, which reports its own
peak resident set size (VmHWM: memory-mapped file pages included) and the command's seconds.
A process that only imports isonet2 gives the baseline. The table also shows how far the
chunked result is from the whole-volume one (relative L2 error).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from isonet2.io.mrc import new_volume, open_volume
from isonet2.io.star import StarTable, TomogramRow, write_star

CHILD = "--child"


def parse_shape(text: str) -> tuple[int, int, int]:
    """'200,1024,1024' -> (200, 1024, 1024), in (z, y, x) order."""
    values = tuple(int(part) for part in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"--shape needs three integers z,y,x, got {text!r}")
    return values[0], values[1], values[2]


def child(words: list[str]) -> None:
    """Run one isonet command and print its seconds and peak RSS as JSON.

    Without a command: import what the commands import and run one tiny FFT (which maps the
    FFT libraries), the fixed cost every command pays.
    """
    import torch

    import isonet2.pipeline.make_mask  # noqa: F401
    from isonet2.cli import run

    started = time.perf_counter()
    code = run(words) if words else int(torch.fft.rfftn(torch.ones(8, 8, 8))[0, 0, 0].real != 512)
    seconds = time.perf_counter() - started
    print(json.dumps({"code": code, "seconds": seconds, "peak_bytes": peak_rss_bytes()}))


def peak_rss_bytes() -> int:
    """This process's peak resident set size (file-backed pages included).

    VmHWM belongs to the process's own address space, so unlike getrusage's ru_maxrss it does
    not inherit the high-water mark of the parent that forked it before exec.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(words: list[str], folder: Path) -> dict[str, float]:
    """Run `words` in a fresh process inside `folder`; its report, or an error if it failed."""
    done = subprocess.run(
        [sys.executable, __file__, CHILD, *words],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{' '.join(words)} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["code"] != 0:
        raise RuntimeError(f"{' '.join(words)} exited {report['code']}:\n{done.stderr[-3000:]}")
    return report


def write_tomogram(path: Path, shape: tuple[int, int, int], seed: int = 0) -> None:
    """A float32 tomogram of Gaussian noise, written 8 Z slices at a time."""
    rng = np.random.default_rng(seed)
    with new_volume(path, shape, voxel_size_angstrom=10.0) as out:
        for start in range(0, shape[0], 8):
            stop = min(start + 8, shape[0])
            out[start:stop] = rng.standard_normal((stop - start, *shape[1:]), dtype=np.float32)


def relative_error(result: Path, reference: Path) -> float:
    """||result - reference|| / ||reference - mean||, summed over Z slabs in float64."""
    a, b = open_volume(result), open_volume(reference)
    diff, total, count, norm = 0.0, 0.0, 0, 0.0
    for start in range(0, a.shape[0], 8):
        x = np.asarray(a[start : start + 8], dtype=np.float64)
        y = np.asarray(b[start : start + 8], dtype=np.float64)
        diff += float(np.square(x - y).sum())
        total += float(y.sum())
        norm += float(np.square(y).sum())
        count += y.size
    return float(np.sqrt(diff / (norm - total * total / count)))


def main(argv: list[str]) -> None:
    if argv[:1] == [CHILD]:
        child(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=parse_shape, default=(200, 1024, 1024), help="z,y,x")
    parser.add_argument("--chunk_size", type=int, default=256)
    parser.add_argument("--ncpus", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="where the temp folder goes")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.workdir) as temp:
        folder = Path(temp)
        tomogram = folder / "tomo.mrc"
        write_tomogram(tomogram, args.shape)
        row = TomogramRow(1, str(tomogram), pixel_size_angstrom=10.0, defocus_angstrom=30000.0)
        write_star(StarTable(rows=[row]), folder / "tomograms.star")
        tomogram_bytes = int(np.prod(args.shape)) * 4
        ncpus = ["--ncpus", str(args.ncpus)]
        runs = {
            "imports + tiny FFT (baseline)": [],
            "deconv whole": ["deconv", "tomograms.star", "--output_dir", "whole", *ncpus],
            f"deconv chunk {args.chunk_size}": [
                "deconv",
                "tomograms.star",
                "--output_dir",
                "chunked",
                "--chunk_size",
                str(args.chunk_size),
                *ncpus,
            ],
            "make_mask": ["make_mask", "tomograms.star", "--output_dir", "mask"],
        }
        print(f"tomogram {args.shape} float32 = {tomogram_bytes / 1e9:.2f} GB, {args.ncpus} CPUs")
        print(f"{'step':<30} {'seconds':>8} {'peak RSS GB':>12} {'peak/tomogram':>14}")
        for name, words in runs.items():
            report = measure(words, folder)
            print(
                f"{name:<30} {report['seconds']:>8.1f} {report['peak_bytes'] / 1e9:>12.2f} "
                f"{report['peak_bytes'] / tomogram_bytes:>14.2f}",
                flush=True,
            )
        error = relative_error(
            folder / "chunked" / "tomo_deconv.mrc", folder / "whole/tomo_deconv.mrc"
        )
        print(f"chunked vs whole deconv: relative L2 error {error:.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
