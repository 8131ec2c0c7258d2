"""Prediction throughput and peak host memory for one tomogram of a given shape.

Example:
    python benchmarks/predict.py --shape 160,400,400 --arch unet-medium --cube 96
    python benchmarks/predict.py --shape 400,1024,1024 --arch unet-small --cube 32 --device cpu

Writes a random float32 tomogram (and a freshly initialised checkpoint) to a temp folder,
then runs `isonet.py predict` on it in a child process and reports end-to-end voxels per
second (reading, tiling, network, blending, writing) and the child's peak resident memory
(its own VmHWM) against the tomogram's size; the temp folder is removed afterwards. With
--halves the tomogram is given as even/odd halves (two passes, averaged), as refine's
isonet2-n2n models predict; --model2 adds split_halves' second model (two maps, their FSCs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The child writes its own peak resident memory (VmHWM, Linux) at exit: the parent's
# RUSAGE_CHILDREN maximum would also count the parent's pages that a fork briefly shares.
PEAK_RECORDER = """
import atexit, pathlib
def _record_peak():
    status = pathlib.Path("/proc/self/status")
    if status.exists():
        peak = status.read_text().split("VmHWM:")[1].split()[0]
        pathlib.Path("peak_rss_kib.txt").write_text(peak)
atexit.register(_record_peak)
"""

IDENTITY_LAUNCHER = (
    PEAK_RECORDER
    + """
import sys, torch
import isonet2.pipeline.predict as predict
predict.model_from_checkpoint = lambda ckpt, **where: torch.nn.Identity()
sys.argv[0] = "isonet.py"
from isonet2.cli import main
main()
"""
)

LAUNCHER = (
    PEAK_RECORDER
    + """
from isonet2.cli import main
main()
"""
)

# The predictor keeps its weights channels-last 3D on every device; this launcher puts them back
# in the default layout, to measure what channels-last gains on a given machine.
DEFAULT_LAYOUT_LAUNCHER = (
    PEAK_RECORDER
    + """
import torch
from isonet2.predict import predictor
plain_init = predictor.TilePredictor.__init__
def default_layout_init(self, *args, **kwargs):
    plain_init(self, *args, **kwargs)
    self.model.to(memory_format=torch.contiguous_format)
predictor.TilePredictor.__init__ = default_layout_init
from isonet2.cli import main
main()
"""
)


def _write_tomogram(path: Path, shape: tuple[int, int, int], seed: int) -> None:
    from isonet2.io.mrc import new_volume

    rng = np.random.default_rng(seed)
    with new_volume(path, shape, voxel_size_angstrom=10.0) as out:
        for start in range(0, shape[0], 16):
            stop = min(start + 16, shape[0])
            out[start:stop] = rng.standard_normal((stop - start, *shape[1:]), dtype=np.float32)


def _write_checkpoint(path: Path, arch: str, cube: int, method: str) -> None:
    from isonet2.io.checkpoint import save_checkpoint
    from isonet2.nn.registry import architecture_kwargs, build_model

    model = build_model(arch)
    save_checkpoint(
        path,
        model_state=model.state_dict(),
        arch=arch,
        arch_kwargs=architecture_kwargs(arch),
        cube_size=cube,
        method=method,
        physics={"method": method, "ctf_mode": "network", "apply_mw_x1": True},
        normalisation={},
        config={},
        epoch=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="160,400,400", help="z,y,x")
    parser.add_argument("--arch", default="unet-medium")
    parser.add_argument("--cube", type=int, default=96)
    parser.add_argument("--halves", action="store_true", help="predict even and odd halves")
    parser.add_argument(
        "--model2",
        action="store_true",
        help="a second model too (split_halves): two maps and their FSCs (with --halves, the "
        "first model on the even half and the second on the odd, central crop)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or a GPU id such as 0")
    parser.add_argument("--batch_size", default="auto")
    parser.add_argument(
        "--identity",
        action="store_true",
        help="replace the network by an identity (host memory and I/O without network cost)",
    )
    parser.add_argument(
        "--default_layout",
        action="store_true",
        help="weights in the default memory layout (the command keeps them channels-last 3D)",
    )
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    assert len(shape) == 3
    folder = Path(tempfile.mkdtemp(prefix="isonet_predict_bench_"))
    names = ["even.mrc", "odd.mrc"] if args.halves else ["full.mrc"]
    for seed, name in enumerate(names):
        _write_tomogram(folder / name, shape, seed)  # type: ignore[arg-type]
    method = "isonet2-n2n" if args.halves else "isonet2"
    _write_checkpoint(folder / "model.pt", args.arch, args.cube, method)
    if args.model2:
        _write_checkpoint(folder / "model2.pt", args.arch, args.cube, method)
    row = (
        "1 None even.mrc odd.mrc" if args.halves else "1 full.mrc None None"
    ) + " 10.0 30000.0 300.0 2.7 0.1 None None None -60.0 60.0 None 100 None"
    labels = [
        "rlnIndex", "rlnTomoName", "rlnTomoReconstructedTomogramHalf1",
        "rlnTomoReconstructedTomogramHalf2", "rlnPixelSize", "rlnDefocus", "rlnVoltage",
        "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnDeconvTomoName",
        "rlnMaskBoundary", "rlnMaskName", "rlnTiltMin", "rlnTiltMax", "rlnBoxFile",
        "rlnNumberSubtomo", "rlnCorrectedTomoName",
    ]  # fmt: skip
    star = "data_\n\nloop_\n" + "".join(f"_{label}\n" for label in labels) + row + "\n"
    (folder / "tomograms.star").write_text(star)
    launcher = IDENTITY_LAUNCHER if args.identity else LAUNCHER
    if args.default_layout:
        launcher = DEFAULT_LAYOUT_LAUNCHER
    command = [sys.executable, "-c", launcher, "predict", "tomograms.star", "model.pt",
               "--output_dir", "out", "--batch_size", args.batch_size]  # fmt: skip
    if args.model2:
        command += ["--model2", "model2.pt"]
    if args.device == "cpu":
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    else:
        env = dict(os.environ)
        if args.device != "auto":
            command += ["--gpuID", args.device]
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True)
    seconds = time.perf_counter() - started
    recorded = folder / "peak_rss_kib.txt"
    if recorded.exists():
        peak_bytes = int(recorded.read_text()) * 1024
    else:  # not Linux: an upper bound that may include the parent's pages
        peak_bytes = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    shutil.rmtree(folder)
    tomogram_bytes = int(np.prod(shape)) * 4
    print(
        json.dumps(
            {
                "shape": shape,
                "arch": args.arch,
                "cube": args.cube,
                "inputs": len(names),
                "models": 2 if args.model2 else 1,
                "network": "identity" if args.identity else args.arch,
                "channels_last": not args.default_layout,
                "seconds": round(seconds, 2),
                "mvoxels_per_s": round(np.prod(shape) / seconds / 1e6, 2),
                "peak_rss_gib": round(peak_bytes / 2**30, 3),
                "peak_over_tomogram": round(peak_bytes / tomogram_bytes, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
