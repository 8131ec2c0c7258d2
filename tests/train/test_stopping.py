"""Stop signals unwind a worker once, never in the middle of a checkpoint, and never get lost."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from isonet2.train.stopping import (
    install_stop_handlers,
    raise_if_stopped,
    restore_handlers,
    set_aside,
    stop_deferred,
    unwind_once,
)


@pytest.fixture
def handlers() -> Iterator[None]:
    previous = install_stop_handlers()
    try:
        yield
    finally:
        restore_handlers(previous)


class SignallingFile(io.FileIO):
    """A file that sends this process SIGTERM at its first write, in the middle of torch.save:
    an exit raised there leaves the file unfinished (raised in torch's C++ writer, it comes out
    as a RuntimeError with a traceback)."""

    signalled = False

    def write(self, data: object) -> int:
        if not self.signalled:
            self.signalled = True
            os.kill(os.getpid(), signal.SIGTERM)
        return super().write(data)  # type: ignore[arg-type]


def test_a_stop_during_a_deferred_save_waits_for_the_complete_file(
    handlers: None, tmp_path: Path
) -> None:
    state = {"w": torch.arange(100_000.0)}
    with SignallingFile(tmp_path / "ckpt.pt", "wb") as target:
        with pytest.raises(SystemExit) as stopped, stop_deferred():
            torch.save(state, target)
        assert target.signalled
    assert stopped.value.code == 128 + signal.SIGTERM
    assert torch.equal(torch.load(tmp_path / "ckpt.pt")["w"], state["w"])  # the file was finished


def test_a_swallowed_stop_takes_effect_at_the_next_check(handlers: None) -> None:
    with contextlib.suppress(SystemExit):  # as if the exit was raised inside a finalizer
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is set_aside  # later stops are set aside
    with pytest.raises(SystemExit) as stopped:
        raise_if_stopped()
    assert stopped.value.code == 128 + signal.SIGTERM


def test_after_the_handlers_are_restored_an_old_stop_is_forgotten() -> None:
    previous = install_stop_handlers()
    try:
        os.kill(os.getpid(), signal.SIGINT)
    except KeyboardInterrupt:
        pass
    finally:
        restore_handlers(previous)
    raise_if_stopped()  # nothing pending: returns
    with stop_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) == previous[signal.SIGINT]


def test_a_hang_up_unwinds_a_run_unless_it_was_started_under_nohup() -> None:
    before = signal.getsignal(signal.SIGHUP)
    try:
        previous = install_stop_handlers()
        try:
            assert signal.getsignal(signal.SIGHUP) is not before  # a closed terminal unwinds
        finally:
            restore_handlers(previous)
        assert signal.getsignal(signal.SIGHUP) is before
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        previous = install_stop_handlers()
        try:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(SystemExit):
                unwind_once(signal.SIGTERM, None)
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # not set aside either
            assert signal.getsignal(signal.SIGTERM) is set_aside
        finally:
            restore_handlers(previous)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
