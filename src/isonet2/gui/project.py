"""The project folder: paths checked to stay inside it, file listings, command-line runs.

Example:
    root = Path("my_project").resolve()
    star = inside(root, "tomograms.star")        # OutsideProject for "../x" or a symlink out
    print(star_files(root), volume_files(root))
    for run in external_runs(root):
        print(run.folder, run.command)

Pure functions of the project root; nothing here writes a file.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isonet2.config import COMMANDS
from isonet2.io.mrc import MRC_SUFFIXES

GUI_FOLDER = ".isonet_gui"
JOB_FOLDER = re.compile(r"job(\d+)")
_SKIPPED = {GUI_FOLDER, ".git", "__pycache__", "node_modules"}


class OutsideProject(Exception):
    """A path that resolves to somewhere outside the project folder."""


def inside(root: Path, path: str) -> Path:
    """`path` (relative to `root`, or absolute within it) resolved; raises OutsideProject."""
    if not path or "\x00" in path:
        raise OutsideProject(path)
    resolved = (root / path).resolve()
    if resolved != root and root not in resolved.parents:
        raise OutsideProject(path)
    return resolved


def relative(root: Path, path: Path) -> str:
    """`path` written relative to the project root, with '/' separators."""
    return path.relative_to(root).as_posix()


def walk(root: Path, depth: int) -> Iterator[Path]:
    """Files up to `depth` folders below `root` (depth 0 = only root's own files), sorted.

    Hidden folders, the GUI's own folder and symlinked folders are not entered (a symlink
    could lead out of the project).
    """
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir():
                if depth > 0 and entry.name not in _SKIPPED and not entry.name.startswith("."):
                    if entry.is_symlink():
                        continue
                    yield from walk(path, depth - 1)
            elif entry.is_file():
                yield path
        except OSError:
            continue


def _listed(root: Path, suffixes: tuple[str, ...], depth: int) -> list[str]:
    return [
        relative(root, path)
        for path in walk(root, depth)
        if path.suffix.lower() in suffixes and _stays_inside(root, path)
    ]


def _stays_inside(root: Path, path: Path) -> bool:
    try:
        inside(root, relative(root, path))
    except OutsideProject:
        return False
    return True


def star_files(root: Path) -> list[str]:
    """Star files up to 3 folders deep."""
    return _listed(root, (".star",), 3)


def default_star(stars: list[str]) -> str | None:
    """tomograms.star when present, else the first star file, else None."""
    if "tomograms.star" in stars:
        return "tomograms.star"
    return stars[0] if stars else None


def volume_files(root: Path) -> list[str]:
    """MRC volumes (.mrc, .rec, .map) up to 4 folders deep."""
    return _listed(root, MRC_SUFFIXES, 4)


def checkpoint_files(root: Path) -> list[str]:
    """Trained networks (.pt) up to 4 folders deep."""
    return _listed(root, (".pt",), 4)


def job_number(folder: Path) -> int | None:
    """N of a `<step>/job<N>` folder, else None."""
    match = JOB_FOLDER.fullmatch(folder.name)
    return int(match.group(1)) if match else None


def highest_job_folder(root: Path) -> int:
    """The largest N of any `<step>/job<N>/` folder in the project (0 when none)."""
    numbers = [
        job_number(path)
        for step in root.iterdir()
        if step.is_dir() and not step.name.startswith(".")
        for path in step.iterdir()
        if path.is_dir()
    ]
    return max([n for n in numbers if n is not None], default=0)


@dataclass(frozen=True)
class ExternalRun:
    """A run started from the command line, known by the run record it left."""

    record: str
    folder: str
    command: str
    time: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """A stable id from the record's path: "cli-" + 8 hex digits."""
        return "cli-" + hashlib.sha1(self.record.encode()).hexdigest()[:8]


def _is_record(path: Path) -> bool:
    return path.name.endswith("_config.json") or path.name.endswith(".prepare_star.json")


def in_job_folder(root: Path, path: Path) -> bool:
    """True for a path inside a `<command>/job<N>/` folder (the GUI's job folders)."""
    parts = path.relative_to(root).parts
    return len(parts) > 2 and parts[0] in COMMANDS and job_number(Path(parts[1])) is not None


def external_runs(root: Path, gui_argvs: set[tuple[str, ...]]) -> list[ExternalRun]:
    """Run records up to 3 folders deep that are not inside a GUI job folder, newest first.

    Records in `<command>/job<N>/` folders are the GUI's; so are records whose argv (after
    the program name) is in `gui_argvs`: prepare_star's lies beside its star, outside the job
    folder.
    """
    runs = []
    for path in walk(root, 3):
        if not _is_record(path) or in_job_folder(root, path):
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not isinstance(record.get("command"), str):
            continue
        parameters = record.get("parameters")
        argv = record.get("argv")
        if isinstance(argv, list) and tuple(str(word) for word in argv[1:]) in gui_argvs:
            continue  # written by a GUI job (e.g. prepare_star's record beside its star)
        runs.append(
            ExternalRun(
                record=relative(root, path),
                folder=relative(root, path.parent) if path.parent != root else ".",
                command=record["command"],
                time=record.get("time") if isinstance(record.get("time"), str) else None,
                parameters=parameters if isinstance(parameters, dict) else {},
                argv=[str(word) for word in argv] if isinstance(argv, list) else [],
            )
        )
    return sorted(runs, key=lambda run: iso_seconds(run.time), reverse=True)


def iso_seconds(text: str | None) -> float:
    """An ISO 8601 time as seconds since the epoch, for sorting; 0 when missing or unreadable."""
    try:
        return datetime.datetime.fromisoformat(text).timestamp() if text else 0.0
    except ValueError:
        return 0.0
