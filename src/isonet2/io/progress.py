"""Progress bars that also report structured events, so a GUI never scrapes terminal text.

Example:
    for row in progress_bar(rows, desc="deconv", unit="tomo"):
        ...
    emit_event("file", kind="preview", path="preview/tomo_epoch3.png")

When the environment variable ISONET_EVENTS names a file, every bar appends JSON lines to it:

    {"event": "progress", "time": 1764070000.1, "task": "epoch 3/10", "done": 12,
     "total": 40, "unit": "batch", "postfix": "loss=0.0312", "closed": false}

at most once per second per bar, and once more when the bar closes. `emit_event` adds other
events (written files, chosen method) in the same format: "event" names the kind, "time" is
seconds since the epoch, the rest are the caller's fields. Without ISONET_EVENTS nothing is
written and the bars are plain tqdm bars. Lines are appended with one write each (O_APPEND),
so several processes may share the file; a failed write never stops the command.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm

EVENTS_ENV = "ISONET_EVENTS"
MIN_EVENT_INTERVAL_S = 1.0
NON_TERMINAL_INTERVAL_S = 30.0  # bar redraws where stderr is a file


def events_path() -> str | None:
    """The events file named by ISONET_EVENTS, or None when no one listens."""
    return os.environ.get(EVENTS_ENV) or None


def emit_event(event: str, **fields: Any) -> None:
    """Append one event line to the ISONET_EVENTS file (no-op when it is not set)."""
    path = events_path()
    if path is None:
        return
    record = {"event": event, "time": round(time.time(), 3), **fields}
    line = json.dumps(record, default=str) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # progress reporting must never break the work itself


class EventBar(tqdm):
    """A tqdm bar that mirrors its state into progress events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._last_event_s = 0.0
        self._event_disabled = bool(kwargs.get("disable", False))
        self._event_closed = self._event_disabled
        super().__init__(*args, **kwargs)
        self._report(force=True)

    def _report(self, force: bool = False, closed: bool = False, done: int | None = None) -> None:
        if events_path() is None or self._event_disabled:
            return
        now = time.monotonic()
        if not force and now - self._last_event_s < MIN_EVENT_INTERVAL_S:
            return
        self._last_event_s = now
        emit_event(
            "progress",
            task=self.desc.rstrip(": "),
            done=int(self.n if done is None else done),
            total=None if self.total is None else int(self.total),
            unit=self.unit,
            postfix=self.postfix or "",
            closed=closed,
        )

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        self._report()
        return shown

    def close(self) -> None:
        if not getattr(self, "_event_closed", True):  # close() may run from __del__
            self._event_closed = True
            self._report(force=True, closed=True)
        super().close()

    def __iter__(self) -> Iterator[Any]:
        # tqdm's iterator counts in a local variable, writes self.n back only when it redraws
        # (every mininterval: 30 s into a log file) and closes the bar at the end (which
        # reports the final count); count the finished items here so each event is current
        done = int(self.n)
        for item in super().__iter__():
            self._report(done=done)
            yield item
            done += 1


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    unit: str = "it",
    total: int | None = None,
    disable: bool = False,
    **kwargs: Any,
) -> EventBar:
    """A progress bar on stderr; with ISONET_EVENTS set, also a stream of progress events.

    A disabled bar (e.g. on every rank but the first) reports nothing either. Where stderr is
    no terminal (`>> log.txt 2>&1`, a cluster job's log) the bar is redrawn at most every
    NON_TERMINAL_INTERVAL_S: each redraw stays in the file (ten a second filled logs).
    """
    if not _stderr_is_terminal():
        kwargs.setdefault("mininterval", NON_TERMINAL_INTERVAL_S)
    return EventBar(iterable, desc=desc, unit=unit, total=total, disable=disable, **kwargs)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def counted(number: int, noun: str) -> str:
    """'1 epoch', '15 epochs': a count with its noun in the right number (regular plurals)."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
