"""The wrapper every GUI job runs in: one isonet.py command, its events, its exit code.

Example:
    python -m isonet2.gui.runjob refine/job3 -- refine tomograms.star -o refine/job3 --epochs 1

Run from the project folder in a process group of its own (the server starts it with
start_new_session=True, so a job outlives a server restart). It runs `python -m isonet2.cli
WORDS...` as a child in the same group with stdout and stderr appended to
`<job folder>/log.txt` and ISONET_EVENTS pointing at `<job folder>/events.jsonl`, and writes
the child's exit code to `<job folder>/exit_code` (atomically) when it ends: 128 + N when
signal N ended it (Cancel sends SIGTERM to the whole group; the wrapper outlives it).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from isonet2.io.progress import EVENTS_ENV
from isonet2.io.star import write_text_atomic

LOG_NAME = "log.txt"
EVENTS_NAME = "events.jsonl"
EXIT_CODE_NAME = "exit_code"


def _note(signum: int, frame: FrameType | None) -> None:
    """SIGTERM reaches the wrapper with its child; the wrapper waits to record the end."""


def exit_status(returncode: int) -> int:
    """A child's return code as a shell reports it: 128 + N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def run_job(folder: Path, words: list[str]) -> int:
    """Run `isonet.py WORDS...` with its output and events going into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _note)
    env = dict(os.environ, **{EVENTS_ENV: str((folder / EVENTS_NAME).resolve())})
    env.setdefault("PYTHONUNBUFFERED", "1")
    with (folder / LOG_NAME).open("ab") as log:
        log.write(("$ isonet.py " + shlex.join(words) + "\n").encode())
        log.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", "isonet2.cli", *words],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        returncode = child.wait()
        if returncode < 0:  # ended by a signal before its own stop handling was in place
            name = signal.Signals(-returncode).name
            log.write(f"isonet.py {words[0]}: stopped by {name}\n".encode())
        code = exit_status(returncode)
    write_text_atomic(folder / EXIT_CODE_NAME, f"{code}\n")
    return code


def main() -> None:
    """`python -m isonet2.gui.runjob FOLDER -- WORDS...`."""
    words = sys.argv[1:]
    if len(words) < 3 or words[1] != "--":
        print("usage: python -m isonet2.gui.runjob FOLDER -- COMMAND [ARGS...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_job(Path(words[0]), words[2:]))


if __name__ == "__main__":
    main()
