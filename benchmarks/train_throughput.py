"""Training throughput: subtomograms per second and peak GPU memory of one training step.

Example:
    python benchmarks/train_throughput.py --arch unet-medium --cube 96 --batch 4 \\
        --method isonet2-n2n --ctf_mode network --mw_weight 200
    python benchmarks/train_throughput.py --gpuID 0,1 --batch 4    # 2 GPUs, 4 per GPU

Runs exactly the trainer's step (target strategy incl. the no-grad first pass, forward under
autocast, masked loss, backward, AdamW step) on random normalised cubes already on the
device, so data loading (done by worker processes in a real run) is not counted. Warm-up
steps are excluded from the timing.

With several GPUs (--gpuID 0,1) or CPU workers (--cpu_workers 2) the same step runs in one
process per device, started by the trainer's launcher, with the trainer's wrapping
(DistributedDataParallel, first pass on the unwrapped network; --sync_bn adds SyncBatchNorm);
--batch is per device and the figure is the global rate: world size x batch x steps divided
by the slowest rank's time between two barriers.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.distributed as dist

from isonet2.targets.settings import TargetSettings, TomogramPhysics
from isonet2.targets.strategy import make_strategy
from isonet2.train.devices import autocast_dtype, select_devices
from isonet2.train.distributed import init_from_env, run_workers, shutdown, worker_count
from isonet2.train.losses import get_base_loss, masked_loss
from isonet2.train.trainer import compiled, data_parallel, training_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="unet-medium")
    parser.add_argument("--cube", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--method", default="isonet2-n2n")
    parser.add_argument("--ctf_mode", default="network")
    parser.add_argument("--mw_weight", type=float, default=200.0)
    parser.add_argument("--loss_func", default="L2", help="base loss, as refine's --loss_func")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (GPU)")
    parser.add_argument(
        "--sync_bn", action="store_true", help="SyncBatchNorm across GPUs (training does not)"
    )
    parser.add_argument("--gpuID", default=None, help='GPUs, e.g. "0" or "0,1"; default all')
    parser.add_argument("--cpu_workers", type=int, default=1, help="processes on a GPU-less host")
    args = parser.parse_args()
    devices = select_devices(args.gpuID)
    nprocs = worker_count(devices, args.cpu_workers)
    result = run_workers(measure, nprocs, (vars(args), [str(d) for d in devices]))
    print(json.dumps(result))


def measure(options: dict, device_names: list[str]) -> dict:
    """Time the training step on this worker's device; rank 0 returns the figures."""
    args = argparse.Namespace(**options)
    context = init_from_env([torch.device(name) for name in device_names])
    try:
        return _measure(args, context.device, context.world_size, context.rank)
    finally:
        shutdown(context)


def _measure(args: argparse.Namespace, device: torch.device, world_size: int, rank: int) -> dict:
    amp = autocast_dtype(device, True)
    net = training_network(args.arch, device, world_size, args.sync_bn)
    network = compiled(net, device) if args.compile else net
    model = data_parallel(network, device, world_size)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-4)
    physics = [TomogramPhysics(10.0, 30000.0, 300.0, 2.7, 0.1, -60.0, 60.0)]
    settings = TargetSettings(method=args.method, ctf_mode=args.ctf_mode, mw_weight=args.mw_weight)
    strategy = make_strategy(settings, physics, args.cube, device)
    base = get_base_loss(args.loss_func)
    generator = torch.Generator().manual_seed(rank)
    shape = (args.batch, 1, args.cube, args.cube, args.cube)
    keys = ("x",) if args.method == "isonet2" else ("even", "odd")

    def step() -> None:
        batch = {k: torch.randn(shape, device=device) for k in keys}
        batch["tomo"] = torch.zeros(args.batch, dtype=torch.int64, device=device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            example = strategy.prepare(batch, network, generator)
            output = model(example.inputs)
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

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if world_size > 1:
            dist.barrier()

    for _ in range(args.warmup):
        step()
    synchronise()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronise()
    seconds = time.perf_counter() - started
    if world_size > 1:  # the slowest rank sets the pace
        slowest = torch.tensor([seconds], dtype=torch.float64, device=device)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        seconds = float(slowest.item())
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": world_size,
        "arch": args.arch,
        "cube": args.cube,
        "batch_per_device": args.batch,
        "method": args.method,
        "ctf_mode": args.ctf_mode,
        "mw_weight": args.mw_weight,
        "loss_func": args.loss_func,
        "sync_bn": args.sync_bn,
        "compile": args.compile,
        "autocast": str(amp),
        "subtomos_per_s": round(world_size * args.steps * args.batch / seconds, 2),
        "ms_per_step": round(1000 * seconds / args.steps, 1),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if device.type == "cuda"
        else None,
    }


if __name__ == "__main__":
    main()
