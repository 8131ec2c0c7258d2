"""Data-parallel processes: torchrun's environment in, one context per process out.

Example:
    result = run_workers(entry, 2, (config_dump,))   # 2 workers, or joins an outer torchrun
    # inside entry(config_dump):
    context = init_from_env(devices)                  # rank, world_size, device, is_main
    try:
        ...                                           # files written only where context.is_main
    finally:
        shutdown(context)

The launch model is torchrun's: every worker reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT and joins one process group (NCCL on GPUs, gloo on the CPU). A command started
under torchrun (WORLD_SIZE set) is one of its workers; otherwise `run_workers` starts the workers
itself through torch's elastic launcher on a free local port, so nobody has to type torchrun.
A worker that fails stops the others and ends the launch in one InputError line; the workers
it stops unwind (SIGTERM raises SystemExit), so their `finally` blocks and context managers
remove half-written files, and they print nothing.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.elastic.agent.server import local_elastic_agent
from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ErrorHandler
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from isonet2.errors import InputError
from isonet2.io.logfile import remember_warnings
from isonet2.train.stopping import install_stop_handlers, restore_handlers

logger = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): a signal for when the parent dies

MONITOR_INTERVAL_S = 0.5
# the launcher's own loggers repeat a failure as a traceback and announce each worker it stops;
# the InputError of launch_workers says it in one line
LAUNCHER_LOGGERS = ("torch.distributed.elastic", "torch.multiprocessing.spawn")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the data-parallel workers."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files, logs progress and returns the result."""
        return self.rank == 0


def under_torchrun() -> bool:
    """True inside a worker of torchrun or of `run_workers` (WORLD_SIZE is set)."""
    return "WORLD_SIZE" in os.environ


def spans_nodes() -> bool:
    """True when this launch's workers run on more than one machine (torchrun's variables)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world > int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))


def is_main_process() -> bool:
    """True outside any launch and on rank 0 of one."""
    return int(os.environ.get("RANK", "0")) == 0


def worker_count(devices: list[torch.device], cpu_workers: int) -> int:
    """Processes to train with: one per GPU, or `cpu_workers` on the CPU."""
    return len(devices) if devices[0].type == "cuda" else cpu_workers


def init_from_env(devices: list[torch.device]) -> DistributedContext:
    """This process's context from torchrun's variables; one process when WORLD_SIZE is unset.

    Worker LOCAL_RANK computes on devices[LOCAL_RANK] (GPUs), or on the CPU.
    """
    if not under_torchrun():
        return DistributedContext(0, 1, 0, devices[0])
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = devices[0]
    if device.type == "cuda":
        if local_rank >= len(devices):
            raise InputError(
                f"worker {local_rank} has no GPU of its own: only {len(devices)} are selected; "
                "start as many workers per node as --gpuID lists"
            )
        device = devices[local_rank]
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # under an outer torchrun every rank runs the command: rank 0 first checks the
        # output folder (and may move an earlier run's checkpoint aside) while the others
        # come straight here; none may read that folder before rank 0 is done with it
        dist.barrier()
    return DistributedContext(rank, world_size, local_rank, device)


def shutdown(context: DistributedContext) -> None:
    """Leave the process group, if this process joined one."""
    if context.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the system says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_workers(entry: Callable[..., Any], nprocs: int, args: tuple[Any, ...]) -> Any:
    """entry(*args) in this process (one worker, or under torchrun), else in `nprocs` workers."""
    if not under_torchrun() and nprocs > 1:
        return launch_workers(entry, nprocs, args)
    # the one worker, alone or in an outer torchrun (which stops workers with SIGTERM, as the
    # GUI's Cancel does): unwind on a stop signal, so finally blocks remove half-written files
    # and a checkpoint being written is finished first (signal handlers: main thread only)
    if threading.current_thread() is not threading.main_thread():
        return entry(*args)
    previous = install_stop_handlers()
    try:
        return entry(*args)
    finally:
        restore_handlers(previous)


def launch_workers(entry: Callable[..., Any], nprocs: int, args: tuple[Any, ...]) -> Any:
    """Start `nprocs` local workers running entry(*args); rank 0's return value.

    `entry` must be a module-level function (workers are spawned). Any failing worker stops the
    others and raises InputError naming the rank and its error.
    """
    logger.info("starting %d data-parallel workers", nprocs)
    level = logging.getLogger("isonet2").getEffectiveLevel()
    with (
        _quiet(LAUNCHER_LOGGERS),
        tempfile.TemporaryDirectory(prefix="isonet2-workers-") as log_dir,
    ):
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nprocs,
            rdzv_backend="c10d",
            rdzv_endpoint=f"127.0.0.1:{free_port()}",
            run_id=f"isonet2-{uuid.uuid4().hex[:12]}",
            max_restarts=0,
            monitor_interval=MONITOR_INTERVAL_S,
            logs_specs=DefaultLogsSpecs(log_dir=log_dir),
            signals_to_handle="SIGTERM,SIGHUP,SIGQUIT",  # Ctrl-C: _ctrl_c_stops_workers_quietly
        )
        ctrl_c = threading.Event()
        try:
            with _ctrl_c_stops_workers_quietly(ctrl_c), _spawn_files_in(log_dir):
                returned = elastic_launch(config, _worker)(entry, level, os.getpid(), *args)
        except ChildFailedError as failed:
            rank, reason = _root_cause(failed, Path(log_dir))
            raise InputError(f"worker {rank} failed: {reason}") from None
        except SignalException as stopped:  # Ctrl-C or a kill: the launcher stopped the workers
            if stopped.sigval == signal.SIGINT or ctrl_c.is_set():
                raise KeyboardInterrupt from None
            raise SystemExit(128 + int(stopped.sigval)) from None
    return returned[0]


@contextmanager
def _ctrl_c_stops_workers_quietly(ctrl_c: threading.Event) -> Iterator[None]:
    """While the block launches workers, Ctrl-C stops them as the launcher's SIGTERM does.

    A spawned worker spends seconds importing torch before `_worker` installs the stop
    handlers, and Ctrl-C (SIGINT to the whole process group) then printed each worker's
    KeyboardInterrupt traceback. So workers are started with SIGINT ignored, a disposition
    that survives exec (`_started_ignoring_ctrl_c`), until `_worker` installs its handlers.
    This process takes Ctrl-C itself instead of the launcher (which `launch_workers` tells
    not to): it sets `ctrl_c` and has the launcher stop the workers with SIGTERM, which ends
    a starting worker at once and quietly and unwinds a training one through its cleanup.
    Passed on as SIGINT, it was lost on a starting worker, which the launcher then waited
    30 s for.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        ctrl_c.set()
        raise SignalException(f"Process {os.getpid()} got Ctrl-C", sigval=signal.SIGTERM)

    previous = signal.signal(signal.SIGINT, stop)
    original = local_elastic_agent.start_processes
    local_elastic_agent.start_processes = _started_ignoring_ctrl_c(original, stop)
    try:
        yield
    finally:
        local_elastic_agent.start_processes = original
        signal.signal(signal.SIGINT, previous)


def _started_ignoring_ctrl_c(start: Callable[..., Any], stop: Callable[..., Any]) -> Any:
    """The launcher's `start_processes`, run with SIGINT ignored: its workers inherit that.

    Starting the processes takes milliseconds; a Ctrl-C in them reaches nobody and has to be
    pressed again. One that Python had received but not yet handled when the handler became
    SIG_IGN would raise "OSError: Signal 2 ignored due to race condition": it is taken as the
    Ctrl-C it was.
    """

    def start_processes(*args: Any, **kwargs: Any) -> Any:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                return start(*args, **kwargs)
            finally:
                signal.signal(signal.SIGINT, stop)
        except OSError as error:
            if "race condition" not in str(error):
                raise
            stop(signal.SIGINT, None)

    return start_processes


@contextmanager
def _spawn_files_in(folder: str) -> Iterator[None]:
    """While the block runs, the launcher's workers start with their error files in `folder`.

    torch's spawn gives every worker a traceback file in the system's temporary folder
    (pytorch-errorfile-*.pickle) and never removes it: each launch in which a worker failed
    left one in /tmp for good. Inside `folder` (launch_workers' temporary folder) they go
    with it. The temporary folder is redirected only while the processes are started
    (milliseconds), so nothing else of this process is moved.
    """
    original = local_elastic_agent.start_processes

    def start_processes(*args: Any, **kwargs: Any) -> Any:
        previous = tempfile.tempdir
        tempfile.tempdir = folder
        try:
            return original(*args, **kwargs)
        finally:
            tempfile.tempdir = previous

    local_elastic_agent.start_processes = start_processes
    try:
        yield
    finally:
        local_elastic_agent.start_processes = original


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Only CRITICAL records from the loggers `names` and those below them while the block runs.

    torch sets levels on its module loggers, so quieting the parent alone is not enough.
    """
    below = [
        name
        for name in list(logging.root.manager.loggerDict)
        if any(name.startswith(f"{parent}.") for parent in names)
    ]
    loggers = [logging.getLogger(name) for name in (*names, *below)]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, old in zip(loggers, levels, strict=True):
            log.setLevel(old)


def _stop_with_launcher(launcher_pid: int) -> None:
    """SIGTERM this worker when the launching process dies (Linux), as if it stopped us.

    A launcher killed with SIGKILL cannot stop its workers: those still starting up then
    waited for it forever (seen as orphans of pid 1 after `kill -9` of refine --cpu_workers 2).
    A launcher already gone by the time this runs ends the worker at once.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl here: the launcher's own stop still works
            pass
    if os.getppid() != launcher_pid:
        raise SystemExit(128 + int(signal.SIGTERM))


def _root_cause(failed: ChildFailedError, log_dir: Path) -> tuple[int, str]:
    """The worker to blame and its message: an InputError first, else the earliest error.

    Every worker's error lands in log_dir/<run>/attempt_0/<rank>/error.json; the launcher
    itself reports only the first worker it saw exit, often one that lost its peer.
    """
    causes = []
    for path in log_dir.glob("*/attempt_*/*/error.json"):
        message = json.loads(path.read_text())["message"]
        text = str(message.get("message", "") if isinstance(message, dict) else message)
        causes.append((path.stat().st_mtime_ns, int(path.parent.name), text))
    for rank, failure in failed.failures.items():
        causes.append((sys.maxsize, rank, f"exit code {failure.exitcode}"))
    prefix = "InputError: "
    _, rank, text = min(causes, key=lambda cause: (not cause[2].startswith(prefix), *cause[:2]))
    return rank, text.removeprefix(prefix)


def _worker(entry: Callable[..., Any], level: int, launcher_pid: int, *args: Any) -> Any:
    """One spawned worker: isonet2 logging to stderr (rank 0 only), then entry(*args).

    An InputError is recorded for the launcher and ends the worker without a traceback. The
    launcher stops the other workers of a failed launch with SIGTERM: it raises SystemExit
    here, so they clean up on their way out (`isonet2.train.stopping`); so does the end of
    the launcher itself (`_stop_with_launcher`).
    """
    install_stop_handlers()  # Ctrl-C, ignored while this worker started, now unwinds it
    _stop_with_launcher(launcher_pid)
    package = logging.getLogger("isonet2")
    package.setLevel(level if is_main_process() else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package.addHandler(handler)
    remember_warnings()  # the worker's own, until its log.txt opens (rank 0)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["LOCAL_WORLD_SIZE"])))
    try:
        return entry(*args)
    except InputError as error:
        ErrorHandler().record_exception(error)
        raise SystemExit(1) from None
