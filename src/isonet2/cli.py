"""`isonet.py` / `isonet2`: command-line words -> a config model -> `pipeline.<command>.run`.

Example:
    isonet.py -h
    isonet.py prepare_star -h
    isonet.py prepare_star tomograms --pixel_size 10

Mistakes a user can make (bad flags, bad files) end in one line on stderr and exit code 2
(command line) or 1 (input); Ctrl-C, `kill` and a closed terminal end in one line and
128 + the signal's number, after the command removed its half-written files
(io/stopsignals.py); logging is configured here and nowhere else.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys

from isonet2 import __version__
from isonet2.config import COMMANDS
from isonet2.config.argv import help_text, parse_command_line
from isonet2.errors import InputError, UsageError, memory_error_line, os_error_line
from isonet2.io.logfile import remember_warnings
from isonet2.io.stopsignals import STOP_SIGNALS, exit_code, stop_signals_raise
from isonet2.program import PROG, prog_name

# command name -> module whose run(cfg) does the work (imported only when that command runs)
PIPELINES = {name: f"isonet2.pipeline.{name}" for name in COMMANDS} | {"gui": "isonet2.gui.app"}


def main_help(prog: str = PROG) -> str:
    """The `isonet.py -h` page: one line per command."""
    width = max(len(name) for name in COMMANDS)
    rows = [f"  {name.ljust(width)}  {model.summary()}" for name, model in COMMANDS.items()]
    return "\n".join(
        [
            f"usage: {prog} <command> [arguments] (isonet2 {__version__})",
            "",
            "Missing-wedge correction, denoising and CTF correction for cryo-ET tomograms.",
            "",
            "commands:",
            *rows,
            "",
            f"Run '{prog} <command> -h' for the parameters of one command.",
        ]
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each message."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _setup_logging() -> None:
    """isonet2's messages to stderr; nothing else's (libraries keep their own settings)."""
    package = logging.getLogger("isonet2")
    # under an outer torchrun every rank runs the command: rank 0 tells, the others only warn
    package.setLevel(logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING)
    if not any(isinstance(h, _StderrHandler) for h in package.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package.addHandler(handler)
    remember_warnings()  # for the log.txt of a training run (io/logfile.py)


def run(argv: list[str], prog: str = PROG) -> int:
    """Run one command line (without the program name); returns the exit code."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(main_help(prog))
        return 0
    if argv[0] in ("-v", "--version", "version"):
        print(f"isonet2 {__version__}")
        return 0
    name = argv[0].replace("-", "_")
    model = COMMANDS.get(name)
    if model is None:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; see {prog} -h"
        print(f"{prog}: unknown command '{argv[0]}'{hint}", file=sys.stderr)
        return 2
    if any(word in ("-h", "--help") for word in argv[1:]):
        print(help_text(model, prog))
        return 0
    try:
        cfg = parse_command_line(model, argv[1:])
        _setup_logging()
        with stop_signals_raise():  # kill and a closed terminal unwind as Ctrl-C does
            pipeline = importlib.import_module(PIPELINES[name])  # torch: seconds, stoppable too
            pipeline.run(cfg)
    except UsageError as error:
        print(f"{prog} {name}: error: {error}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"{prog} {name}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        code = exit_code(stop)
        how = "interrupted" if code == 128 + signal.SIGINT else f"stopped by {stop}"
        print(f"{prog} {name}: {how}", file=sys.stderr)
        return code
    except SystemExit as stop:  # a training process stopped by SIGTERM (train/stopping.py)
        if not (isinstance(stop.code, int) and stop.code - 128 in STOP_SIGNALS):
            raise
        print(f"{prog} {name}: stopped by {signal.Signals(stop.code - 128).name}", file=sys.stderr)
        return stop.code
    except OSError as error:  # full disk, read-only folder, ...: the machine, not a bug
        print(f"{prog} {name}: error: {os_error_line(error)}", file=sys.stderr)
        return 1
    except MemoryError as error:  # e.g. simulate --shape 100000,100000,100000
        print(f"{prog} {name}: error: {memory_error_line(error)}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    """Run sys.argv and exit with its code (the console scripts reach it through console.main)."""
    try:
        code = run(sys.argv[1:], prog_name(sys.argv[0]))
    except BrokenPipeError:  # e.g. `isonet.py refine -h | head`
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
