"""Training throughput: subtomograms per second and peak GPU memory of one training step.

Example:
    python benchmarks/train_throughput.py --arch unet-medium --cube 96 --batch 4 \\
        --method isonet2-n2n --ctf_mode network --mw_weight 200

Runs exactly the trainer's step (target strategy incl. the no-grad first pass, forward under
autocast, masked loss, backward, AdamW step) on random normalised cubes already on the
device, so data loading (done by worker processes in a real run) is not counted. Warm-up
steps are excluded from the timing.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from isonet2.nn.registry import build_model
from isonet2.targets.settings import TargetSettings, TomogramPhysics
from isonet2.targets.strategy import make_strategy
from isonet2.train.devices import autocast_dtype
from isonet2.train.losses import get_base_loss, masked_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="unet-medium")
    parser.add_argument("--cube", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--method", default="isonet2-n2n")
    parser.add_argument("--ctf_mode", default="network")
    parser.add_argument("--mw_weight", type=float, default=200.0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    amp = autocast_dtype(device, True)
    model = build_model(args.arch).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    network = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    physics = [TomogramPhysics(10.0, 30000.0, 300.0, 2.7, 0.1, -60.0, 60.0)]
    settings = TargetSettings(method=args.method, ctf_mode=args.ctf_mode, mw_weight=args.mw_weight)
    strategy = make_strategy(settings, physics, args.cube, device)
    base = get_base_loss("L2")
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, 1, args.cube, args.cube, args.cube)
    keys = ("x",) if args.method == "isonet2" else ("even", "odd")

    def step() -> None:
        batch = {k: torch.randn(shape, device=device) for k in keys}
        batch["tomo"] = torch.zeros(args.batch, dtype=torch.int64, device=device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            example = strategy.prepare(batch, network, generator)
            output = network(example.inputs)
        terms = masked_loss(
            example.network_output(output).float(),
            example.targets,
            example.n2n_band,
            example.mw_band,
            settings.mw_weight,
            base,
        )
        terms.total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    result = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "arch": args.arch,
        "cube": args.cube,
        "batch": args.batch,
        "method": args.method,
        "ctf_mode": args.ctf_mode,
        "mw_weight": args.mw_weight,
        "compile": args.compile,
        "autocast": str(amp),
        "subtomos_per_s": round(args.steps * args.batch / seconds, 2),
        "ms_per_step": round(1000 * seconds / args.steps, 1),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device.type == "cuda"
        else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
