"""Stop signals: SIGTERM and SIGHUP unwind a command once, as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from isonet2.io.stopsignals import StopSignal, exit_code, stop_signals_raise


def send(signum: int, wait_s: float = 2.0) -> None:
    """Signal this process; a handler that raises does so between bytecodes, within the wait."""
    os.kill(os.getpid(), signum)
    time.sleep(wait_s)


def send_set_aside(signum: int) -> None:
    """Signal this process where the handler must not raise: 0.1 s gives it time to."""
    send(signum, wait_s=0.1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_first_signal_raises_later_ones_wait_and_handlers_come_back(signum: int) -> None:
    caught: list[int] = []

    def ours(number: int, frame: object) -> None:
        caught.append(number)

    before = {s: signal.signal(s, ours) for s in (signal.SIGTERM, signal.SIGHUP)}
    cleaned = []
    try:
        with pytest.raises(StopSignal) as stopped, stop_signals_raise():
            try:
                send(signum)
            finally:  # the cleanup a command does on its way out is not cut short
                send_set_aside(signal.SIGTERM)
                send_set_aside(signal.SIGHUP)
                cleaned.append(True)
        assert stopped.value.signum == signum and isinstance(stopped.value, KeyboardInterrupt)
        assert str(stopped.value) == signal.Signals(signum).name
        assert exit_code(stopped.value) == 128 + signum
        assert cleaned == [True] and caught == []
        assert all(signal.getsignal(s) is ours for s in before)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_ctrl_c_keeps_its_exit_code() -> None:
    assert exit_code(KeyboardInterrupt()) == 130


def test_a_hang_up_ignored_at_start_stays_ignored_and_sigterm_always_stops() -> None:
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN), signal.getsignal(signal.SIGTERM)
    try:
        with stop_signals_raise():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # as nohup wants
            assert callable(signal.getsignal(signal.SIGTERM))  # else the kill ends pytest
            with pytest.raises(StopSignal):
                send(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) == before[1]
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before[0])


def test_outside_the_main_thread_the_block_runs_unchanged() -> None:
    seen: list[object] = []

    def body() -> None:
        with stop_signals_raise():
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def test_after_a_stop_in_a_nested_block_the_outer_one_does_not_raise_again() -> None:
    """The CLI wraps every command, the GUI server its own loop: the GUI's cleanup after a
    SIGTERM runs in the CLI's block, where a second SIGTERM must not cut it short."""
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(StopSignal), stop_signals_raise():
        try:
            with stop_signals_raise():
                send(signal.SIGTERM)
        except StopSignal:
            send_set_aside(signal.SIGTERM)  # the server's cleanup, in the outer block
            cleaned.append(True)
            raise
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) == before
