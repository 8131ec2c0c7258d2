"""The GUI's job queue through the API: order, cancel, restart, external runs, progress."""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from isonet2.config import SimulateConfig
from isonet2.config.argv import parse_command_line
from isonet2.gui.jobs import JobQueue, kill_group, runjob_alive
from isonet2.gui.runjob import EXIT_CODE_NAME

# simulate is the quickest command: 64³ tomograms take about 0.1 s each after the imports
SIMULATE = {"shape": "64,64,64", "tilt_step": 6, "number_tomograms": 2}
TINY_REFINE = {"epochs": 1, "cube_size": 32, "arch": "unet-small", "ncpus": 0}


def moment(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def submit(server: Any, command: str, values: dict, run_now: bool = False) -> dict:
    body = {"command": command, "values": values, "run_now": run_now}
    status, payload = server.call("POST", "/api/jobs", body)
    assert status == 201, payload
    return payload["job"]


def pid_of(project: Path, job_id: int) -> int:
    database = project / ".isonet_gui" / "jobs.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def processes_in(folder: str) -> list[int]:
    """Processes whose command line names `folder` (the job's runjob and its command)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                words = (entry / "cmdline").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if folder.encode() in words and stat != "Z":
                    found.append(int(entry.name))
    return found


def test_queued_jobs_run_one_after_the_other(gui_server: Any) -> None:
    first = submit(gui_server, "simulate", SIMULATE)
    second = submit(gui_server, "simulate", {**SIMULATE, "seed": 1})
    assert (first["id"], second["id"]) == (1, 2)
    assert first["folder"] == "simulate/job1" and second["status"] == "queued"
    assert first["line"] == ("isonet.py simulate -o simulate/job1 --shape 64,64,64 --tilt_step 6.0")
    first = gui_server.wait_for(1, {"finished", "failed"})
    second = gui_server.wait_for(2, {"finished", "failed"})
    assert first["status"] == second["status"] == "finished"
    assert moment(second["started"]) >= moment(first["finished"])
    assert first["returncode"] == 0 and first["elapsed_s"] > 0
    folder = gui_server.project / "simulate" / "job1"
    assert (folder / "exit_code").read_text().strip() == "0"
    assert (folder / "tomograms.star").is_file()
    log = (folder / "log.txt").read_bytes().decode()  # tqdm's "\r" kept
    assert log.startswith("$ isonet.py simulate -o simulate/job1") and "wrote 2 tomograms" in log
    [bar] = first["progress"]
    assert bar["task"] == "simulate" and bar["done"] == bar["total"] == 2 and bar["closed"]
    _, payload = gui_server.call("GET", "/api/jobs/1/log?offset=0")
    assert payload["text"] == log and payload["offset"] == len(log.encode())
    _, payload = gui_server.call("GET", f"/api/jobs/1/log?offset={payload['offset']}")
    assert payload["text"] == ""
    # the GUI's own runs are not listed again as command-line runs
    listed = gui_server.call("GET", "/api/jobs")[1]["jobs"]
    assert [job["id"] for job in listed if job["source"] == "gui"] == [2, 1]
    assert {job["folder"] for job in listed if job["source"] == "cli"} == {"sim", "."}


def test_a_command_that_fails_is_failed_with_its_one_line_error(gui_server: Any) -> None:
    job = submit(
        gui_server, "prepare_star", {"even": "nowhere/EVN", "odd": "sim/odd"}, run_now=True
    )
    job = gui_server.wait_for(job["id"], {"finished", "failed"})
    assert job["status"] == "failed" and job["returncode"] == 1
    log = (gui_server.project / job["folder"] / "log.txt").read_text().splitlines()
    assert log[0] == "$ isonet.py prepare_star -e nowhere/EVN -o sim/odd"
    assert log[-1].startswith("isonet.py prepare_star: error: ") and "nowhere/EVN" in log[-1]


def test_run_now_starts_beside_the_queue(gui_server: Any) -> None:
    long = submit(gui_server, "simulate", {**SIMULATE, "number_tomograms": 40})
    gui_server.wait_for(long["id"], {"running"})
    now = submit(gui_server, "simulate", SIMULATE, run_now=True)
    assert now["status"] == "running"
    now = gui_server.wait_for(now["id"], {"finished", "failed"})
    assert now["status"] == "finished"
    status, payload = gui_server.call("POST", f"/api/jobs/{now['id']}/cancel")
    assert status == 409 and "already finished; nothing to cancel" in payload["error"]
    assert gui_server.call("GET", f"/api/jobs/{now['id']}")[1]["job"]["status"] == "finished"
    assert gui_server.call("GET", f"/api/jobs/{long['id']}")[1]["job"]["status"] == "running"
    gui_server.call("POST", f"/api/jobs/{long['id']}/cancel")


def test_cancel_kills_the_process_group(gui_server: Any) -> None:
    job = submit(gui_server, "simulate", {**SIMULATE, "number_tomograms": 2000})
    waiting = submit(gui_server, "simulate", SIMULATE)
    deadline = time.monotonic() + 30
    while not gui_server.call("GET", "/api/jobs/1")[1]["job"]["progress"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    pid = pid_of(gui_server.project, job["id"])
    assert len(processes_in("simulate/job1")) == 2  # runjob and the command
    status, payload = gui_server.call("DELETE", "/api/jobs/1")
    assert status == 409 and "cancel it first" in payload["error"]

    status, payload = gui_server.call("POST", f"/api/jobs/{waiting['id']}/cancel")
    assert payload["job"]["status"] == "cancelled" and payload["job"]["started"] is None
    status, payload = gui_server.call("POST", "/api/jobs/1/cancel")
    assert status == 200
    job = gui_server.wait_for(1, {"cancelled", "finished", "failed"}, timeout_s=20)
    assert job["status"] == "cancelled" and job["returncode"] == 128 + 15
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert processes_in("simulate/job1") == []
    assert gui_server.call("GET", "/api/jobs/2")[1]["job"]["status"] == "cancelled"
    status, payload = gui_server.call("POST", "/api/jobs/1/cancel")  # again: changes nothing
    assert status == 200 and payload["job"]["status"] == "cancelled"

    status, payload = gui_server.call("POST", "/api/jobs/1/rerun")
    assert status == 201 and payload["job"]["id"] == 3
    assert payload["job"]["values"] == job["values"] and payload["job"]["folder"] == "simulate/job3"
    gui_server.call("POST", "/api/jobs/3/cancel")
    status, payload = gui_server.call("DELETE", "/api/jobs/2")
    assert status == 200 and payload == {"deleted": 2}
    assert gui_server.call("GET", "/api/jobs/2")[0] == 404
    assert (gui_server.project / "simulate" / "job2").is_dir()  # nothing is lost


def test_jobs_survive_a_server_restart(gui_server: Any) -> None:
    """A running refine is re-adopted; a job that ended while no server ran is read back."""
    refine = submit(gui_server, "refine", TINY_REFINE)
    short = submit(gui_server, "simulate", SIMULATE, run_now=True)
    queued = submit(gui_server, "simulate", SIMULATE)
    gui_server.wait_for(refine["id"], {"running"})
    gui_server.stop()
    exit_code = gui_server.project / short["folder"] / "exit_code"
    deadline = time.monotonic() + 30
    while not exit_code.exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    gui_server.start()
    jobs = {job["id"]: job for job in gui_server.call("GET", "/api/jobs")[1]["jobs"]}
    assert jobs[refine["id"]]["status"] == "running"
    assert jobs[short["id"]]["status"] == "finished" and jobs[short["id"]]["returncode"] == 0
    assert jobs[queued["id"]]["status"] == "queued"
    assert {job["source"] for job in jobs.values()} == {"gui", "cli"}

    refine = gui_server.wait_for(refine["id"], {"finished", "failed"}, timeout_s=90)
    assert refine["status"] == "finished", (
        gui_server.project / refine["folder"] / "log.txt"
    ).read_text()
    assert refine["progress"][-1]["task"] == "epoch 1/1" and refine["progress"][-1]["closed"]
    assert "refine/job1/loss_full.png" in refine["pictures"]
    assert any(path.startswith("refine/job1/preview/") for path in refine["pictures"])
    status, png = gui_server.call("GET", f"/api/file?path={refine['pictures'][-1]}")
    assert status == 200 and png[:4] == b"\x89PNG"
    log = (gui_server.project / "refine" / "job1" / "log.txt").read_text()
    assert log.count("epoch 1/1  loss") == 1  # the trainer does not write its log twice
    queued = gui_server.wait_for(queued["id"], {"finished", "failed"})
    assert moment(queued["started"]) >= moment(refine["finished"])


def test_command_line_runs_are_listed(gui_server: Any) -> None:
    listed = gui_server.call("GET", "/api/jobs")[1]["jobs"]
    runs = {job["command"]: job for job in listed}
    assert set(runs) == {"simulate", "prepare_star"}
    simulate = runs["simulate"]
    assert simulate["source"] == "cli" and simulate["status"] == "external"
    assert simulate["folder"] == "sim" and simulate["id"].startswith("cli-")
    assert simulate["values"]["shape"] == [64, 64, 64]
    assert gui_server.call("GET", f"/api/jobs/{simulate['id']}")[1]["job"] == simulate
    assert gui_server.call("POST", f"/api/jobs/{simulate['id']}/cancel")[0] == 409
    status, payload = gui_server.call("POST", f"/api/jobs/{simulate['id']}/rerun")
    assert status == 201
    argv = payload["job"]["argv"]
    cfg = parse_command_line(SimulateConfig, argv[1:])
    assert cfg.output_dir == "simulate/job1" and cfg.shape == [64, 64, 64]
    # a GUI prepare_star rewrites the star and its record: that run is the GUI's now
    values = {"even": "sim/even", "odd": "sim/odd", "number_subtomos": 4, "pixel_size": 10}
    prepare = submit(gui_server, "prepare_star", values, run_now=True)
    assert gui_server.wait_for(prepare["id"], {"finished", "failed"})["status"] == "finished"
    commands = [
        (job["command"], job["source"]) for job in gui_server.call("GET", "/api/jobs")[1]["jobs"]
    ]
    assert ("prepare_star", "cli") not in commands and ("prepare_star", "gui") in commands


def test_a_job_ended_by_a_signal_before_its_handlers_says_so_in_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Cancel in a job's first second killed the command before it could print its own
    'stopped by SIGTERM' line; the log ended at the command line."""
    import subprocess

    from isonet2.gui import runjob

    class KilledEarly:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def wait(self) -> int:
            return -15

    monkeypatch.setattr(subprocess, "Popen", KilledEarly)
    assert runjob.run_job(tmp_path / "job1", ["refine", "tomograms.star"]) == 143
    lines = (tmp_path / "job1" / "log.txt").read_text().splitlines()
    assert lines == ["$ isonet.py refine tomograms.star", "isonet.py refine: stopped by SIGTERM"]
    assert (tmp_path / "job1" / "exit_code").read_text() == "143\n"


def test_pid_zero_and_foreign_processes_are_left_alone() -> None:
    assert kill_group(0, 0) is False  # signal 0: nothing is sent even if the check is lost
    assert kill_group(-1, 0) is False
    assert runjob_alive(os.getpid(), "refine/job1") is False  # pytest is no runjob


def test_a_new_job_never_reuses_a_job_folder_left_on_disk(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "refine" / "job7").mkdir(parents=True)
    (root / "refine" / "job7" / "refine_config.json").write_text("{}")
    queue = JobQueue(root)
    try:
        assert queue.next_number() == 8
    finally:
        queue.store.close()


@pytest.mark.parametrize(("exit_code", "status"), [(None, "failed"), ("0", "finished")])
def test_a_job_whose_process_is_gone_is_finished_only_with_exit_code_0(
    one_job_queue: JobQueue, exit_code: str | None, status: str
) -> None:
    """No exit_code file means the command never reached its end (SIGKILL, out of memory):
    the job is failed, not finished."""
    queue = one_job_queue
    if exit_code is not None:
        (queue.root / "simulate" / "job1" / EXIT_CODE_NAME).write_text(exit_code)
    queue.store.update(1, status="running", pid=None, started=1.0)  # its runjob is gone
    queue.tick()
    job = queue.store.get(1)
    assert job is not None and job.status == status
