"""Data-parallel training on the CPU (gloo, 2 workers): disjoint data, one checkpoint, the loss of
one process, clean exits."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from isonet2.cli import run
from isonet2.config import RefineConfig
from isonet2.data.batches import make_loader
from isonet2.data.sampler import SubtomogramSampler
from isonet2.errors import InputError
from isonet2.io.checkpoint import load_checkpoint
from isonet2.io.star import read_star, write_star
from isonet2.pipeline import refine as refine_command
from isonet2.pipeline.training import open_for_method
from isonet2.targets import single_map
from isonet2.targets.augment import CubeRotation
from isonet2.train.distributed import init_from_env, launch_workers, shutdown
from isonet2.train.stopping import (
    install_stop_handlers,
    restore_handlers,
    set_aside,
    unwind_once,
)

SMALL = "--cube_size 32 --arch unet-small --ncpus 0 --with_preview False"
CHECKPOINT = "network_isonet2-n2n_unet-small_32_full.pt"


def refine(out: str, extra: str) -> int:
    return run(shlex.split(f"refine tomograms.star -o {out} {SMALL} {extra}"))


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live process, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        table[int(stat.parent.name)] = (parent, command)
    return table


def child_processes() -> list[str]:
    """Command lines of this process's live children, but Python's resource tracker.

    The tracker (started once by any spawn) belongs to this interpreter, not to a launch.
    """
    found = [
        command
        for parent, command in process_table().values()
        if parent == os.getpid() and "resource_tracker" not in command
    ]
    return found + [str(p) for p in multiprocessing.active_children()]


def test_ranks_draw_disjoint_centres_covering_the_epoch(train_project: Path) -> None:
    tomoset = open_for_method(read_star("tomograms.star"), "n2n", None, 32)
    ranks = [SubtomogramSampler(tomoset, 32, seed=3, rank=r, world_size=2) for r in range(2)]
    for epoch in range(2):
        everything = ranks[0].epoch_centres(epoch)
        mine, theirs = (sampler.centres(epoch) for sampler in ranks)
        assert len(mine) == len(theirs) == len(everything) // 2 == len(ranks[0])
        together = np.empty_like(everything)
        together[0::2], together[1::2] = mine, theirs
        np.testing.assert_array_equal(together, everything)  # each centre on exactly one rank


def test_two_cpu_workers_write_the_single_process_checkpoint_and_resume_alone(
    train_project: Path,
) -> None:
    table = read_star("tomograms.star")
    for row in table.rows:  # an epoch of one step of 2 cubes (1 a worker): what is kept and
        row.number_subtomos = 1  # how it resumes do not depend on the length of the epoch
    write_star(table, "tomograms.star")
    assert refine("single", "--epochs 1 --batch_size 2") == 0
    table.rows[1].defocus_angstrom = 0.0  # a warning given before the workers start
    write_star(table, "tomograms.star")
    assert refine("pair", "--epochs 1 --batch_size 2 --cpu_workers 2 --CTF_mode phase_only") == 0
    assert child_processes() == []
    log = (train_project / "pair" / "log.txt").read_text()
    assert log.count("has no defocus") == 1  # in the log rank 0 writes, once
    single = load_checkpoint(train_project / "single" / CHECKPOINT)
    pair = load_checkpoint(train_project / "pair" / CHECKPOINT)
    assert pair["epoch"] == single["epoch"] == 1
    assert pair["model_state"].keys() == single["model_state"].keys()
    assert pair["config"]["cpu_workers"] == 2 and pair["arch"] == single["arch"]
    assert len(pair["metrics"]["history"]) == 1
    for record in (*single["metrics"]["history"], *pair["metrics"]["history"]):
        assert 0.0 < record["data_wait_s"] < record["seconds"]
    assert "waiting for data)" in (train_project / "pair" / "log.txt").read_text()
    written = {path.name for path in (train_project / "pair").iterdir()}
    assert written == {CHECKPOINT, "log.txt", "loss_full.png", "refine_config.json"}
    # the checkpoint holds no rank state: one process carries on where two stopped
    assert refine("pair", "--epochs 2 --batch_size 2 --CTF_mode phase_only") == 0
    resumed = load_checkpoint(train_project / "pair" / CHECKPOINT)
    assert resumed["epoch"] == 2
    assert [int(h["epoch"]) for h in resumed["metrics"]["history"]] == [1, 2]


def test_a_batch_that_does_not_split_over_the_workers_is_one_line(
    train_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert refine("odd", "--epochs 1 --cpu_workers 2 --batch_size 3") == 1
    assert child_processes() == []
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "does not split evenly over 2 processes" in errors[0], errors


def fail_on_rank_one() -> None:
    """A worker whose rank 1 fails while rank 0 waits for it in a collective."""
    context = init_from_env([torch.device("cpu")])
    try:
        if context.rank == 1:
            raise InputError("rank one cannot read its share")
        dist.barrier()
    finally:
        shutdown(context)


def test_one_failing_rank_stops_the_launch_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also: the traceback file torch's spawn gives each worker (rank 0 writes one when it
    loses its peer) no longer stays behind in the temporary folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(InputError, match=r"^worker 1 failed: rank one cannot read its share$"):
        launch_workers(fail_on_rank_one, 2, ())
    assert child_processes() == []
    assert list(tmp_path.iterdir()) == []
    assert tempfile.gettempdir() == str(tmp_path)


SET_IN_THIS_PROCESS = {"before_the_loader": False}


class ReportsTheMark(torch.utils.data.Dataset[torch.Tensor]):
    """Items say whether the worker that made them saw a change made before it started."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, item: int) -> torch.Tensor:
        return torch.tensor(float(SET_IN_THIS_PROCESS["before_the_loader"]))


def loader_workers_share_the_launched_process() -> bool:
    """In a launched worker: do its loader's workers start as copies of it (fork)?"""
    SET_IN_THIS_PROCESS["before_the_loader"] = True  # a spawned loader worker would not see it
    loader = make_loader(ReportsTheMark(), 2, num_workers=1, pin_memory=False)  # type: ignore[arg-type]
    return bool(next(iter(loader)).all())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loader workers fork on Linux")
def test_loader_workers_of_a_launched_worker_are_forked_not_spawned() -> None:
    """Launched workers are spawned, and spawn is inherited: without an explicit fork, every
    epoch's loader workers re-imported torch (2.2 s instead of 0.03 s on 2 CPU cores)."""
    assert launch_workers(loader_workers_share_the_launched_process, 2, ()) is True
    assert child_processes() == []


def fixed_rotation(
    random_rot_weight: float, generator: torch.Generator, *, mirrors: bool = False
) -> CubeRotation:
    """The same cube rotation for every batch (rotations are drawn per rank, per batch)."""
    return CubeRotation(5)


def train_with_fixed_rotation(config: dict[str, object], devices: list[torch.device]) -> object:
    """refine's worker with fixed_rotation (patched in this worker process only)."""
    single_map.draw_rotation = fixed_rotation  # type: ignore[assignment]
    return refine_command.train_worker(config, devices)


def test_two_workers_follow_the_loss_of_one_process_with_the_same_global_batch(
    train_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two gloo workers (2 cubes a batch, 1 each, 2 batches accumulated) and one process (1
    cube a batch, 4 accumulated) take the same 2 optimizer steps and report the same loss.

    Same global batch: rank r's micro-batch k holds centre 2k + r of the epoch's shuffled list,
    so each step sees the same 4 cubes. BatchNorm normalises over one process's micro-batch,
    hence 1 cube per micro-batch in both runs. Method isonet2 (single maps: no even/odd coin
    per item) and one fixed cube rotation (test only: rotations are drawn per rank and batch)
    make the targets equal. The epoch's loss averages step 0 (before any update: wrong or
    overlapping cubes, or a loss not averaged over the ranks, change it) and step 1 (after one
    update: a gradient not all-reduced changes it). What remains is float rounding in the
    order DDP and accumulation sum gradients: measured 1e-8 relative, so rel=1e-6 is the
    tolerance. Without the all-reduce (each rank stepping on its own 2 cubes) the loss differs
    by 9e-3 relative. (Later steps are no sharper test: Adam's first updates amplify that
    rounding to about 1e-4 relative after 3 steps, in one process too.)
    """
    cpu = [torch.device("cpu")]

    def config(out: str, batch_size: int, acc_batches: int) -> dict[str, object]:
        return RefineConfig(
            star_file="tomograms.star",
            output_dir=out,
            method="isonet2",
            cube_size=32,
            arch="unet-small",
            ncpus=0,
            with_preview=False,
            epochs=1,
            batch_size=batch_size,
            acc_batches=acc_batches,
            learning_rate=1e-3,
            learning_rate_min=1e-3,
        ).model_dump(mode="json")

    monkeypatch.setattr(single_map, "draw_rotation", fixed_rotation)
    # the one-process run trains in a thread while the two workers start and train: each
    # computes on one thread, so on 2 cores neither run waits for the other (24 s -> 18 s)
    with ThreadPoolExecutor(max_workers=1) as thread:
        training_alone = thread.submit(refine_command.train_worker, config("alone", 1, 4), cpu)
        pair = launch_workers(train_with_fixed_rotation, 2, (config("pair", 2, 2), cpu))
        alone = training_alone.result()
    assert child_processes() == []
    (single,), (shared,) = (
        [record["loss"] for record in run.runs[0].history] for run in (alone, pair)
    )
    assert shared == pytest.approx(single, rel=1e-6)


def _descendants(pid: int) -> list[int]:
    """Live processes below `pid` (children, grandchildren, ...)."""
    parents = {child: parent for child, (parent, _) in process_table().items()}
    found, frontier = [], [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def test_workers_end_when_their_launcher_is_killed(train_project: Path, tmp_path: Path) -> None:
    """`kill -9` of a refine --cpu_workers 2 while its workers start up left them running
    for good, children of pid 1 (a kill-and-rerun audit): they now stop with it."""
    import signal
    import subprocess
    import sys
    import time

    command = [
        sys.executable,
        "-m",
        "isonet2.cli",
        *shlex.split(f"refine tomograms.star -o orphans {SMALL} --cpu_workers 2 --epochs 200"),
    ]
    # a launcher killed with SIGKILL cannot remove its temporary folder: keep it out of /tmp
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", TMPDIR=str(scratch))
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while len(_descendants(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the two workers exist, still importing torch
        workers = _descendants(child.pid)
        assert len(workers) >= 2, "the workers never started"
        child.kill()
        child.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _alive(workers):
            time.sleep(0.5)
        assert not _alive(workers), [process_table().get(pid) for pid in _alive(workers)]
    finally:
        for pid in _alive(workers):
            os.kill(pid, signal.SIGKILL)


def _alive(pids: list[int]) -> list[int]:
    """Those of `pids` that still run (a zombie has ended)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@pytest.mark.parametrize("when", ["starting", "training"])
def test_ctrl_c_stops_every_worker_with_one_line(train_project: Path, when: str) -> None:
    """Ctrl-C in a terminal sends SIGINT to the whole foreground process group: as soon as
    both workers exist, while they still import torch (it printed each worker's
    KeyboardInterrupt traceback), or once they have trained an epoch. Either way the workers
    stop within seconds, with one line."""
    import signal
    import subprocess
    import sys
    import time

    command = [
        sys.executable,
        "-m",
        "isonet2.cli",
        *shlex.split(f"refine tomograms.star -o ctrlc {SMALL} --cpu_workers 2 --epochs 200"),
    ]
    # --cpu_workers counts only without a GPU: hide any, so two CPU workers start there too
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env
    )
    try:
        deadline = time.monotonic() + 90
        while len(_descendants(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # the launcher and its two workers are starting
        workers = _descendants(child.pid)
        assert len(workers) >= 2, "the workers never started"
        if when == "training":  # the first epoch's checkpoint
            latest = Path("ctrlc") / CHECKPOINT
            while not latest.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert latest.exists(), "the workers never trained an epoch"
        os.killpg(child.pid, signal.SIGINT)
        _, stderr = child.communicate(timeout=20)  # the launcher's own patience is 30 s
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()  # closes the pipe, so a failure here does not leak into others
    assert child.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "isonet.py refine: interrupted"
    assert "Traceback" not in stderr
    time.sleep(1)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    zombies = [p for p in alive if "Z" in Path(f"/proc/{p}/stat").read_text().split()[2]]
    assert alive == zombies == [] or set(alive) == set(zombies), alive


@pytest.mark.parametrize(
    ("outer_torchrun", "loader_workers", "signum"),
    [
        (True, 0, signal.SIGTERM),
        (False, 0, signal.SIGTERM),
        (False, 2, signal.SIGTERM),
        (False, 2, signal.SIGHUP),
    ],
)
def test_a_worker_unwinds_on_sigterm_and_sighup(
    train_project: Path, outer_torchrun: bool, loader_workers: int, signum: int
) -> None:
    """torchrun stops its workers with SIGTERM, the GUI's Cancel a lone training process and
    its loader workers (the whole process group), a closed terminal sends SIGHUP; each exits
    128 + N through its cleanup."""
    import subprocess
    import sys
    import time

    small = SMALL.replace("--ncpus 0", f"--ncpus {loader_workers}")
    words = shlex.split(f"refine tomograms.star -o outer {small} --epochs 200")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if outer_torchrun:
        env.update(WORLD_SIZE="1", RANK="0", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    else:
        for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
            env.pop(name, None)
    child = subprocess.Popen(
        [sys.executable, "-m", "isonet2.cli", *words],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not Path("outer", CHECKPOINT).exists() and time.monotonic() < deadline:
            time.sleep(0.5)  # training has begun once the first checkpoint is written
        if loader_workers:
            time.sleep(2)  # the next epoch's loader workers are up
            os.killpg(child.pid, signum)
        else:
            child.send_signal(signum)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()  # closes the pipe, so a failure here does not leak into others
    assert child.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith(f"isonet.py refine: stopped by {signal.Signals(signum).name}")
    assert [p.name for p in Path("outer").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("signum", "raised"),
    [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit), (signal.SIGHUP, SystemExit)],
)
def test_a_worker_unwinds_on_the_first_stop_signal_and_ignores_the_next(
    signum: int, raised: type[BaseException]
) -> None:
    """Ctrl-C reaches a worker twice (directly, then as the launcher's SIGTERM): the second
    must not cut into the exit already under way (it printed an atexit traceback in CI)."""
    previous = install_stop_handlers()
    try:
        with pytest.raises(raised) as stopped:
            unwind_once(signum, None)
        if raised is SystemExit:
            assert stopped.value.code == 128 + signum
        for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            assert signal.getsignal(stop) is set_aside
    finally:
        restore_handlers(previous)
