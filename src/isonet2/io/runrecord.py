"""The resolved config of a command, saved as JSON beside its outputs.

Example:
    write_run_config(cfg, Path("deconv") / "deconv_config.json")

The record holds the command, every parameter (defaults included), the isonet2 version, the
time, and the process's argv, so a result can always be traced to how it was made.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

from isonet2 import __version__
from isonet2.config import CommandConfig
from isonet2.io.star import write_text_atomic


def run_record(cfg: CommandConfig) -> dict[str, object]:
    """The dictionary saved beside a command's outputs."""
    return {
        "command": cfg.command,
        "isonet2_version": __version__,
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "parameters": cfg.model_dump(mode="json"),
    }


def write_run_config(cfg: CommandConfig, path: str | os.PathLike[str]) -> Path:
    """Write the run record atomically and return its path."""
    target = Path(path)
    write_text_atomic(target, json.dumps(run_record(cfg), indent=2) + "\n")
    return target
