"""A run's log.txt: the messages of the run, with the warnings given before it was opened.

Example:
    remember_warnings()                     # the CLI, once per command, before any work
    handler = open_log_file(folder / "log.txt")   # the trainer, once the folder exists
    ...
    close_log_file(handler, ending="stopped by SIGTERM; rerun the same command to resume")

A training command warns about its input before it knows where its log goes (a --gpuID on a
machine without a GPU, a CTF mode without defocus values, an earlier run set aside): those
warnings reached the terminal only, so a log.txt read the next morning did not say the run
trained on the CPU. And a run stopped by Ctrl-C, `kill` or an error ended its log.txt on its
last epoch line as if it were still running. The warnings are remembered from the start of
the command and written first into the log; the log's last line says how the run ended.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

PACKAGE_LOGGER = "isonet2"
REMEMBERED = 50  # warnings kept for the log; a command gives a handful
LOG_FORMAT = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")


class _LogFile(logging.FileHandler):
    """A run's log.txt, as open_log_file attaches it."""


class _WarningMemory(logging.Handler):
    """Keeps the package's latest warnings (and errors) of this command."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: deque[logging.LogRecord] = deque(maxlen=REMEMBERED)

    def emit(self, record: logging.LogRecord) -> None:
        handlers = logging.getLogger(PACKAGE_LOGGER).handlers
        if not any(isinstance(h, _LogFile) for h in handlers):  # else it went into the log
            self.records.append(record)


def _memory() -> _WarningMemory | None:
    for handler in logging.getLogger(PACKAGE_LOGGER).handlers:
        if isinstance(handler, _WarningMemory):
            return handler
    return None


def remember_warnings() -> None:
    """From now on keep this command's warnings for its log (forgetting an earlier command's)."""
    memory = _memory()
    if memory is None:
        logging.getLogger(PACKAGE_LOGGER).addHandler(_WarningMemory())
    else:
        memory.records.clear()


def forget_warnings() -> None:
    """Drop the remembered warnings (they reached the log another way)."""
    memory = _memory()
    if memory is not None:
        memory.records.clear()


def open_log_file(path: Path) -> logging.Handler:
    """Append the package's messages to `path`, starting with the warnings remembered so far."""
    handler = _LogFile(path)
    handler.setFormatter(LOG_FORMAT)
    memory = _memory()
    if memory is not None:  # each remembered warning into one log (split_halves opens twice)
        for record in memory.records:
            handler.handle(record)
        memory.records.clear()
    logging.getLogger(PACKAGE_LOGGER).addHandler(handler)
    return handler


def close_log_file(handler: logging.Handler, ending: str | None = None) -> None:
    """Stop writing to the log; `ending` (how the run ended) as its last line, log file only."""
    logging.getLogger(PACKAGE_LOGGER).removeHandler(handler)
    if ending is not None:
        record = logging.LogRecord(PACKAGE_LOGGER, logging.ERROR, __file__, 0, ending, None, None)
        handler.handle(record)
    handler.close()
