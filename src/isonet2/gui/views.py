"""The JOB objects of the API: a GUI job from its record and events, a command-line run.

Example:
    view = job_view(record, JobEvents(root / record.folder / "events.jsonl", root))
    views = [external_view(root, run) for run in external_runs(root, set())]
    views.sort(key=newest_first)

Times are ISO 8601 strings with the local time zone (milliseconds for GUI jobs); pictures
and folders are paths relative to the project.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

from isonet2.config import COMMANDS
from isonet2.gui import forms, project
from isonet2.gui.events import JobEvents
from isonet2.gui.store import JobRecord


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds).astimezone()
    return moment.isoformat(timespec="milliseconds")


def job_view(job: JobRecord, seen: JobEvents) -> dict[str, Any]:
    """The JOB object of the contract for a GUI job (`seen`: its events, refreshed here)."""
    seen.refresh()
    end = job.finished if job.finished is not None else time.time()
    return {
        "id": job.id,
        "command": job.command,
        "step": job.command,
        "folder": job.folder,
        "argv": job.argv,
        "line": job.line,
        "values": job.values,
        "status": job.status,
        "source": "gui",
        "created": _iso(job.created),
        "started": _iso(job.started),
        "finished": _iso(job.finished),
        "elapsed_s": None if job.started is None else round(end - job.started, 3),
        "returncode": job.returncode,
        "progress": seen.progress(),
        "pictures": seen.pictures(),
    }


def changed_values(run: project.ExternalRun) -> dict[str, Any]:
    """An external run's parameters that differ from its command's defaults."""
    model = COMMANDS.get(run.command)
    if model is None:
        return {}
    fields = model.model_fields
    return {
        name: value
        for name, value in run.parameters.items()
        if name in fields and name != forms.OUTPUT_FIELD and value != fields[name].default
    }


def _pictures(root: Path, folder: str) -> list[str]:
    if folder == ".":
        return []
    base = root / folder
    found = [*base.glob("*.png"), *base.glob("preview/*.png")]
    found.sort(key=lambda path: path.stat().st_mtime)
    return [project.relative(root, path) for path in found]


def external_view(root: Path, run: project.ExternalRun) -> dict[str, Any]:
    """The JOB object of the contract for a run started from the command line."""
    words = run.argv[1:]
    return {
        "id": run.id,
        "command": run.command,
        "step": run.command,
        "folder": run.folder,
        "argv": words,
        "line": forms.command_line(words) if words else f"{forms.PROG} {run.command}",
        "values": changed_values(run),
        "status": "external",
        "source": "cli",
        "created": run.time,
        "started": run.time,
        "finished": None,
        "elapsed_s": None,
        "returncode": None,
        "progress": [],
        "pictures": _pictures(root, run.folder),
        "record": run.record,
    }


def newest_first(view: dict[str, Any]) -> float:
    """Sort key: a JOB's creation time, negated (newest first)."""
    return -project.iso_seconds(view["created"])
