"""`kill` (SIGTERM) and a closed terminal (SIGHUP) stop a command as Ctrl-C does: cleanly.

Example:
    try:
        with stop_signals_raise():
            pipeline.run(cfg)            # temp files are removed by its finally blocks
    except KeyboardInterrupt as stop:
        code = exit_code(stop)           # 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP

Python's default for SIGTERM and SIGHUP is to die on the spot: no `finally` block runs, so a
command stopped by `kill`, by the GUI's Cancel or by a closed terminal left its hidden
half-written `.name.*.tmp` beside the outputs (a whole tomogram's worth). Inside the block the
first of them raises `StopSignal` (a KeyboardInterrupt) in the main thread instead, so the
command unwinds exactly as it does for Ctrl-C. Later SIGTERM/SIGHUP are set aside so they
cannot cut into that cleanup; Ctrl-C (kept at Python's default) and SIGKILL still end a
cleanup that hangs. A SIGHUP ignored when the block starts (`nohup`) stays ignored.
The training workers install their own, finer handlers inside this block (train/stopping.py).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP received: unwind like Ctrl-C; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(stop: KeyboardInterrupt) -> int:
    """What a shell reports for a process ended by the signal: 128 + N (130 for Ctrl-C)."""
    return 128 + int(getattr(stop, "signum", signal.SIGINT))


def set_aside(signum: int, frame: FrameType | None) -> None:
    """A stop signal after the first: nothing to do, the exit is already under way.

    A handler rather than SIG_IGN: a signal that arrived just before the handlers were
    replaced is still run by Python afterwards, and finding SIG_IGN it raised "OSError:
    Signal 15 ignored due to race condition" in the middle of the exit. (Also the training
    processes' handler for later stops: train/stopping.py.)
    """


def left_ignored(signum: int) -> bool:
    """True for a SIGHUP that is ignored now: started under `nohup`, it stays ignored."""
    return signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN


def _raise_once(signum: int, frame: FrameType | None) -> None:
    for other in STOP_SIGNALS:
        if signal.getsignal(other) is _raise_once:
            signal.signal(other, set_aside)
    raise StopSignal(signum)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """SIGTERM, and SIGHUP unless ignored, raise StopSignal once while the block runs.

    Only the main thread may set handlers; elsewhere the block runs with them unchanged.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            if not left_ignored(signum):
                previous[signum] = signal.signal(signum, _raise_once)
    try:
        yield
    except StopSignal:
        # an enclosing block (the CLI around the GUI's) must not raise again in the cleanup
        for signum, handler in previous.items():
            if handler is _raise_once:
                previous[signum] = set_aside
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
