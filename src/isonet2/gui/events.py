"""A job's events.jsonl read incrementally: the latest progress per task and the pictures.

Example:
    seen = JobEvents(root / "refine/job3/events.jsonl", root)
    seen.refresh()
    print(seen.progress(), seen.pictures())

Only the bytes appended since the last refresh are read, so a long training's file is never
read twice. A torn last line (a write in progress) is left for the next refresh.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from isonet2.gui.project import OutsideProject, inside, relative

MAX_TASKS = 3
PROGRESS_KEYS = ("task", "done", "total", "unit", "postfix", "closed")


class JobEvents:
    """What a job's event file has said so far."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self._offset = 0
        self._tasks: dict[str, dict[str, Any]] = {}
        self._pictures: list[str] = []
        self._lock = threading.Lock()  # the server answers requests from several threads

    def refresh(self) -> None:
        """Read the lines appended since the last call."""
        with self._lock:
            self._read_on()

    def _read_on(self) -> None:
        try:
            with self.path.open("rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        for line in chunk[:end].splitlines():
            self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if event.get("event") == "progress" and isinstance(event.get("task"), str):
            task = event["task"]
            self._tasks.pop(task, None)  # re-insert: the dict's order is newest last
            self._tasks[task] = {key: event.get(key) for key in PROGRESS_KEYS}
        elif event.get("event") == "picture" and isinstance(event.get("path"), str):
            self._add_picture(event["path"])

    def _add_picture(self, path: str) -> None:
        try:
            rel = relative(self.root, inside(self.root, path))
        except OutsideProject:
            return
        if rel in self._pictures:
            self._pictures.remove(rel)
        self._pictures.append(rel)

    def progress(self) -> list[dict[str, Any]]:
        """The latest event of each task, at most MAX_TASKS, newest last."""
        with self._lock:
            return list(self._tasks.values())[-MAX_TASKS:]

    def pictures(self) -> list[str]:
        """Announced pictures (project-relative), newest last, plus the loss plots present
        (loss_full.png; loss_top.png and loss_bottom.png of --split_halves)."""
        with self._lock:
            found = list(self._pictures)
        for loss in sorted(self.path.parent.glob("loss_*.png")):  # split halves: top, bottom
            rel = relative(self.root, loss)
            if loss.is_file() and rel not in found:
                found.append(rel)
        return found
