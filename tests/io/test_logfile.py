"""log.txt: the warnings given before it was opened, once, and how the run ended."""

from __future__ import annotations

import logging
from pathlib import Path

from isonet2.io.logfile import close_log_file, open_log_file, remember_warnings


def test_warnings_before_the_log_opens_are_written_into_it_once(tmp_path: Path) -> None:
    logger = logging.getLogger("isonet2.test_logfile")
    remember_warnings()
    logger.warning("from an earlier command")
    remember_warnings()  # a new command forgets the earlier one's warnings
    logger.info("an info line is not remembered")
    logger.warning("no GPU here")
    first = open_log_file(tmp_path / "log.txt")
    logger.warning("while the log is open")
    close_log_file(first)
    second = open_log_file(tmp_path / "log.txt")  # split_halves' second network, same log
    close_log_file(second, ending="stopped by SIGTERM")
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "no GPU here",
        "while the log is open",
        "stopped by SIGTERM",
    ]
    logger.warning("after the log closed")
    assert len((tmp_path / "log.txt").read_text().splitlines()) == 3
