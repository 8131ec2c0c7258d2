"""A tiny simulated project and a real `isonet.py gui` server process on it.

Fixtures:
    gui_project -> Path of a project: sim/{even,odd,full,ground_truth}/*.mrc (2 tomograms of
        64³, made by `isonet.py simulate`) and tomograms.star (made by `isonet.py prepare_star`
        from the even/odd folders: defocus 30000 Å, 4 subtomograms per tomogram).
    one_job_queue -> a JobQueue (its thread never started) on an empty project tmp_path/proj
        whose table holds job 1, a queued `simulate` in simulate/job1 (made); closed after.
    gui_server -> a GuiProcess: .url (with the token), .base (without), .token, .project,
        .call(method, path, body) -> (status, JSON or bytes), .restart() -> new url, .stop().
        Started as `python -m isonet2.cli gui --project P --port 0 --open_browser False`; at
        teardown the server and every job it started (their process groups) are killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isonet2.cli import run
from isonet2.gui.jobs import JobQueue

START_TIMEOUT_S = 60.0
URL_PREFIX = "isonet2 GUI: "


@pytest.fixture
def one_job_queue(tmp_path: Path) -> Iterator[JobQueue]:
    """See the module docstring."""
    root = (tmp_path / "proj").resolve()
    root.mkdir()
    queue = JobQueue(root)
    queue.store.add(
        job_id=1,
        command="simulate",
        folder="simulate/job1",
        argv=["simulate"],
        line="isonet.py simulate",
        values={},
        run_now=False,
        created=0.0,
    )
    (root / "simulate" / "job1").mkdir(parents=True)
    try:
        yield queue
    finally:
        with contextlib.suppress(Exception):
            queue.store.close()


def make_project(folder: Path) -> Path:
    """Simulate 2 tomograms (64³) into folder/sim and prepare folder/tomograms.star."""
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(folder):
        simulate = ["simulate", "-o", "sim", "--shape", "64,64,64", "--tilt_step", "6"]
        assert run([*simulate, "--ntomos", "2"]) == 0
        prepare = ["prepare_star", "-e", "sim/even", "-o", "sim/odd", "--defocus", "30000"]
        assert run([*prepare, "--number_subtomos", "4", "--pixel_size", "10"]) == 0
    return folder


@pytest.fixture(scope="session")
def _project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("gui_template") / "project")


@pytest.fixture
def gui_project(tmp_path: Path, _project_template: Path) -> Path:
    """A fresh copy of the tiny simulated project (see the module docstring)."""
    target = tmp_path / "project"
    shutil.copytree(_project_template, target)
    return target


def _first_line(stream: Any, timeout_s: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return found[0] if found else ""


def _as_from_a_terminal() -> None:
    """In the child: Ctrl-C and hang-up as a terminal gives them. A pytest started in the
    background (`... &` from a script, as CI may) hands its children SIGINT ignored, and
    Python then never raises KeyboardInterrupt: each stop used to wait out its 10 s."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class GuiProcess:
    """An `isonet.py gui` subprocess on one project."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.process: subprocess.Popen[str] | None = None
        self.url = self.base = self.token = ""
        self.stderr_path = project.parent / "gui_stderr.txt"
        self._reader: threading.Thread | None = None

    def start(self) -> str:
        command = [sys.executable, "-m", "isonet2.cli", "gui", "--project", str(self.project)]
        command += ["--port", "0", "--open_browser", "False"]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        with self.stderr_path.open("a") as stderr:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                preexec_fn=_as_from_a_terminal,
            )
        line = _first_line(self.process.stdout, START_TIMEOUT_S)
        if not line.startswith(URL_PREFIX):
            self.stop()
            raise RuntimeError(f"gui did not start: {line!r}\n{self.stderr_path.read_text()}")
        self.url = line.removeprefix(URL_PREFIX).strip()
        self.base, _, self.token = self.url.partition("/?token=")
        # keep reading stdout so the server never blocks on a full pipe
        stdout = self.process.stdout
        self._reader = threading.Thread(target=lambda: stdout and stdout.read(), daemon=True)
        self._reader.start()
        return self.url

    def stop(self, signum: int = signal.SIGINT) -> int | None:
        """Stop the server process (its jobs go on, as after Ctrl-C); returns its exit code,
        None when it had to be killed after 10 s."""
        code = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                code = self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            if self._reader is not None:
                self._reader.join(5)
            self.process.stdout.close()
        self.process = None
        return code

    def restart(self) -> str:
        """Stop the server and start a new one on the same project; returns the new url."""
        self.stop()
        return self.start()

    def kill_jobs(self) -> None:
        """SIGKILL the process group of every job the store knows of that still runs."""
        database = self.project / ".isonet_gui" / "jobs.sqlite"
        if not database.exists():
            return
        from isonet2.gui.jobs import kill_group, runjob_alive

        with contextlib.closing(sqlite3.connect(database)) as db:
            rows = db.execute("SELECT pid, folder FROM jobs WHERE pid IS NOT NULL").fetchall()
        for pid, folder in rows:
            if runjob_alive(pid, folder):
                kill_group(pid, signal.SIGKILL)

    def call(self, method: str, path: str, body: Any = None, token: bool = True) -> tuple[int, Any]:
        """One request; returns (status, parsed JSON, or bytes for other content)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            request.add_header("X-Isonet-Token", self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, kind, raw = (
                    response.status,
                    response.headers["Content-Type"],
                    response.read(),
                )
        except urllib.error.HTTPError as error:
            status, kind, raw = error.code, error.headers["Content-Type"], error.read()
        return status, json.loads(raw) if kind == "application/json" else raw

    def wait_for(self, job_id: int | str, statuses: set[str], timeout_s: float = 60) -> dict:
        """Poll a job until its status is one of `statuses`; returns the JOB."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, payload = self.call("GET", f"/api/jobs/{job_id}")
            assert status == 200, payload
            if payload["job"]["status"] in statuses or time.monotonic() > deadline:
                return payload["job"]
            time.sleep(0.2)


@pytest.fixture
def gui_server(gui_project: Path) -> Iterator[GuiProcess]:
    """A running `isonet.py gui` on gui_project (see the module docstring)."""
    server = GuiProcess(gui_project)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.kill_jobs()
