"""The job table, kept in `<project>/.isonet_gui/jobs.sqlite` so it outlives the server.

Example:
    store = Store(Path("my_project/.isonet_gui/jobs.sqlite"))
    job = store.add(command="refine", folder="refine/job3", argv=[...], line="isonet.py ...",
                    values={"epochs": 1}, run_now=False)
    store.update(job.id, status="running", pid=1234, started=time.time())
    print([j.status for j in store.all()])

Times are seconds since the epoch; argv and values are stored as JSON text. One connection is
shared by the server's threads behind a lock (SQLite in autocommit mode).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    folder TEXT NOT NULL,
    argv TEXT NOT NULL,
    line TEXT NOT NULL,
    form_values TEXT NOT NULL,
    status TEXT NOT NULL,
    run_now INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    returncode INTEGER,
    pid INTEGER,
    cancel_requested REAL
)
"""


@dataclass
class JobRecord:
    """One row of the job table."""

    id: int
    command: str
    folder: str
    argv: list[str]
    line: str
    values: dict[str, Any]
    status: str
    run_now: bool
    created: float
    started: float | None = None
    finished: float | None = None
    returncode: int | None = None
    pid: int | None = None
    cancel_requested: float | None = None


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        command=row["command"],
        folder=row["folder"],
        argv=json.loads(row["argv"]),
        line=row["line"],
        values=json.loads(row["form_values"]),
        status=row["status"],
        run_now=bool(row["run_now"]),
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        returncode=row["returncode"],
        pid=row["pid"],
        cancel_requested=row["cancel_requested"],
    )


class Store:
    """The job table behind a lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def highest_id(self) -> int:
        """The largest job id ever stored (0 for none)."""
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM jobs").fetchone()
        return int(row[0] or 0)

    def add(
        self,
        *,
        job_id: int,
        command: str,
        folder: str,
        argv: list[str],
        line: str,
        values: dict[str, Any],
        run_now: bool,
        created: float,
    ) -> JobRecord:
        """Store a new queued job."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, command, folder, argv, line, form_values, status, "
                "run_now, created) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (
                    job_id,
                    command,
                    folder,
                    json.dumps(argv),
                    line,
                    json.dumps(values),
                    run_now,
                    created,
                ),
            )
        found = self.get(job_id)
        assert found is not None
        return found

    def get(self, job_id: int) -> JobRecord | None:
        """One job, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def all(self) -> list[JobRecord]:
        """Every job, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall()
        return [_record(row) for row in rows]

    def with_status(self, status: str) -> list[JobRecord]:
        """Jobs of one status, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE status = ? ORDER BY id", (status,)
            ).fetchall()
        return [_record(row) for row in rows]

    def update(self, job_id: int, **columns: Any) -> None:
        """Set some columns of one job."""
        allowed = {"status", "started", "finished", "returncode", "pid", "cancel_requested"}
        unknown = set(columns) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._lock:
            self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", (*columns.values(), job_id)
            )

    def delete(self, job_id: int) -> None:
        """Remove a job's record (its folder stays)."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
