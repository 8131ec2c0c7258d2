"""The job queue: jobs are isonet.py commands run as subprocesses, one queued job at a time.

Example:
    jobs = JobQueue(Path("my_project").resolve())
    jobs.start()                                   # the background thread that runs the queue
    job = jobs.submit("refine", {"epochs": 1}, run_now=False)
    jobs.cancel(job.id)
    jobs.stop()

Each job gets the folder `<step>/job<N>/` (N counts over all steps) and runs
`python -m isonet2.gui.runjob <folder> -- <words>` with cwd = the project, in a process group
of its own. Queued jobs start one after the other in id order; "run now" jobs start at once
beside the queue. The table lives in `.isonet_gui/jobs.sqlite`; a new server re-adopts jobs
that are still running (by pid, checked against the process's command line) and reads how the
others ended from their `exit_code` file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from isonet2.gui import forms
from isonet2.gui.project import GUI_FOLDER, highest_job_folder
from isonet2.gui.runjob import EXIT_CODE_NAME, LOG_NAME, exit_status
from isonet2.gui.store import JobRecord, Store

logger = logging.getLogger(__name__)

TICK_S = 0.2
KILL_AFTER_S = 10.0


class JobError(Exception):
    """A request the queue refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def read_exit_code(folder: Path) -> int | None:
    """The code runjob wrote when the command ended, or None while it runs (or if killed)."""
    try:
        return int((folder / EXIT_CODE_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def runjob_alive(pid: int, folder: str) -> bool:
    """True while process `pid` lives, is no zombie and is the runjob of `folder`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc: trust the pid
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        words = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and b"isonet2.gui.runjob" in words and folder.encode() in words


def kill_group(pid: int, sig: int) -> bool:
    """Send `sig` to the process group led by `pid`; False when the group is gone."""
    if pid <= 0:  # never signal our own group (pid 0) or every process (-1)
        return False
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class JobQueue:
    """The job table plus the thread that starts, watches and finishes jobs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store(root / GUI_FOLDER / "jobs.sqlite")
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the background thread
    def start(self) -> None:
        """Start the thread that runs the queue (re-adopting jobs a former server started)."""
        self._thread = threading.Thread(target=self._loop, name="isonet-gui-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; running jobs keep running (a new server re-adopts them)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the queue must outlive one bad tick; the log says why
                logger.exception("job queue tick failed")
            self._wake.wait(TICK_S)
            self._wake.clear()

    def tick(self) -> None:
        """Finish ended jobs, escalate slow cancels, start the next queued job."""
        with self._lock:
            for job in self.store.with_status("running"):
                self._watch(job)
            queue_busy = any(not job.run_now for job in self.store.with_status("running"))
            for job in self.store.with_status("queued"):
                if job.run_now:
                    self._launch(job)
                elif not queue_busy:
                    self._launch(job)
                    queue_busy = True

    def _watch(self, job: JobRecord) -> None:
        child = self._children.get(job.id)
        if child is not None:
            ended = child.poll() is not None
        else:
            ended = job.pid is None or not runjob_alive(job.pid, job.folder)
        if not ended:
            if job.cancel_requested and time.time() - job.cancel_requested > KILL_AFTER_S:
                kill_group(job.pid or 0, signal.SIGKILL)
            return
        self._children.pop(job.id, None)
        code = read_exit_code(self.root / job.folder)
        if code is None and child is not None and child.returncode is not None:
            code = exit_status(child.returncode)
        if job.cancel_requested:
            status = "cancelled"
            if job.pid:
                kill_group(job.pid, signal.SIGKILL)  # whatever the command left behind
        else:
            status = "finished" if code == 0 else "failed"
        self.store.update(job.id, status=status, returncode=code, finished=time.time())

    def _launch(self, job: JobRecord) -> None:
        folder = self.root / job.folder
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "isonet2.gui.runjob", job.folder, "--", *job.argv]
        try:
            with (folder / LOG_NAME).open("ab") as log:
                child = subprocess.Popen(
                    command,
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as error:
            logger.error("job %d: cannot start: %s", job.id, error)
            now = time.time()
            self.store.update(job.id, status="failed", started=now, finished=now)
            return
        self._children[job.id] = child
        self.store.update(job.id, status="running", pid=child.pid, started=time.time())

    # ---- requests
    def next_number(self) -> int:
        """The N the next job's folder will get."""
        return max(self.store.highest_id(), highest_job_folder(self.root)) + 1

    def _job_words(self, command: str, values: dict[str, Any], number: int) -> list[str]:
        """The words job `number` runs: the form validated, output_dir = its folder."""
        cfg = forms.form_config(command, values, output_dir=f"{command}/job{number}")
        return forms.command_words(cfg)

    def preview(self, command: str, values: dict[str, Any]) -> tuple[list[str], str]:
        """The argv and the line the job would run if submitted now (FormError if invalid)."""
        words = self._job_words(command, values, self.next_number())
        return words, forms.command_line(words)

    def submit(self, command: str, values: dict[str, Any], run_now: bool) -> JobRecord:
        """Validate the form and store the job (FormError if invalid); the thread starts it."""
        with self._lock:
            number = self.next_number()
            folder = f"{command}/job{number}"
            words = self._job_words(command, values, number)
            model = forms.model_for(command)
            kept = forms.clean_values(model, values)
            kept.pop(forms.OUTPUT_FIELD, None)
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            job = self.store.add(
                job_id=number,
                command=command,
                folder=folder,
                argv=words,
                line=forms.command_line(words),
                values=kept,
                run_now=run_now,
                created=time.time(),
            )
            if run_now:
                self._launch(job)
        self._wake.set()
        return self.get(job.id)

    def get(self, job_id: int) -> JobRecord:
        """One job; JobError 404 when there is none."""
        job = self.store.get(job_id)
        if job is None:
            raise JobError(f"no job {job_id}", 404)
        return job

    def cancel(self, job_id: int) -> JobRecord:
        """Cancel: a queued job just becomes cancelled; a running one gets SIGTERM (group).
        Cancelling a cancelled job again changes nothing; one that has finished or failed is a
        JobError 409: there is nothing to stop."""
        with self._lock:
            job = self.get(job_id)
            if job.status in ("finished", "failed"):
                raise JobError(f"job {job_id} has already {job.status}; nothing to cancel", 409)
            if job.status == "queued":
                self.store.update(job_id, status="cancelled", finished=time.time())
            elif job.status == "running":
                if job.cancel_requested is None:
                    self.store.update(job_id, cancel_requested=time.time())
                kill_group(job.pid or 0, signal.SIGTERM)
        self._wake.set()
        return self.get(job_id)

    def rerun(self, job_id: int) -> JobRecord:
        """A new job with the same command and values."""
        job = self.get(job_id)
        return self.submit(job.command, job.values, run_now=False)

    def delete(self, job_id: int) -> None:
        """Forget a job (its folder stays); a running job cannot be deleted."""
        with self._lock:
            job = self.get(job_id)
            if job.status == "running":
                raise JobError(f"job {job_id} is running; cancel it first", 409)
            self.store.delete(job_id)
