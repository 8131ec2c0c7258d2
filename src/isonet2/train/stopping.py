"""Stopping a training worker on Ctrl-C or a launcher's SIGTERM: unwind once, never mid-write.

Example:
    previous = install_stop_handlers()      # a worker: the first stop signal unwinds it
    for batch in loader:
        raise_if_stopped()                  # a stop whose unwinding was lost takes effect here
        ...
    with stop_deferred():                   # a stop arriving in here waits for the block
        save_checkpoint(...)
    restore_handlers(previous)

The first stop signal raises KeyboardInterrupt (SIGINT) or SystemExit(128 + signum) wherever
the main thread is, so `finally` blocks remove half-written files; later ones are set aside
(a handler that does nothing), so they cannot cut into that exit. Two places would lose such
an exception: a Python callback inside C++ (torch.save's writer turns it into a RuntimeError
and a traceback), and a finalizer (Python only prints an exception raised in one, and the run
would go on with its stop signals set aside). So the checkpoint is written inside
`stop_deferred`, and the training loop calls `raise_if_stopped` every batch.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from isonet2.io.stopsignals import left_ignored, set_aside

# Ctrl-C, the launcher stopping workers (or `kill`, the GUI's Cancel), and a closed terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_pending: list[int] = []  # the stop signal received, if any
_deferring = [0]  # depth of stop_deferred blocks being run


def _raise_stop(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def unwind_once(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C (SIGINT) or launcher stop (SIGTERM): unwind this worker quietly.

    Later stop signals are set aside (`set_aside`), so they cannot cut into the finally
    blocks and atexit callbacks of the exit already under way (Ctrl-C reaches a worker
    directly and then again as the launcher's SIGTERM; a SystemExit raised inside an atexit
    callback prints a traceback). A worker that hangs on its way out is still killed by the
    launcher. Inside `stop_deferred` the unwinding waits for the end of the block.
    """
    for stop in STOP_SIGNALS:
        if signal.getsignal(stop) is unwind_once:  # an ignored SIGHUP stays ignored
            signal.signal(stop, set_aside)
            # restarting interrupted system calls, as SIG_IGN did: C++ code on the way out
            # sees no EINTR
            signal.siginterrupt(stop, False)
    _pending[:] = [signum]
    if _deferring[0] == 0:
        _raise_stop(signum)


def install_stop_handlers() -> dict[int, Callable[..., Any] | int | None]:
    """Make the stop signals unwind this process (main thread only); the previous handlers.

    A SIGHUP ignored when this is called (the run was started under `nohup`) stays ignored.
    """
    _pending.clear()
    return {
        signum: signal.signal(signum, unwind_once)
        for signum in STOP_SIGNALS
        if not left_ignored(signum)
    }


def restore_handlers(previous: dict[int, Callable[..., Any] | int | None]) -> None:
    """Put back the handlers `install_stop_handlers` replaced; forget any stop received."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    _pending.clear()


def raise_if_stopped() -> None:
    """Unwind now if a stop signal arrived and this process is still running.

    Only while `unwind_once` holds the stop signals aside: once the handlers are restored, a
    stop seen earlier is history.
    """
    if _pending and signal.getsignal(signal.SIGTERM) is set_aside:
        _raise_stop(_pending[0])


@contextmanager
def stop_deferred() -> Iterator[None]:
    """Let the block finish before a stop signal received during it unwinds the process."""
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1
    if _deferring[0] == 0:
        raise_if_stopped()
