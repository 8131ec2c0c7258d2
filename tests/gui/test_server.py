"""The GUI server over HTTP: the token, the project sandbox, form errors, the star, volumes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from isonet2.cli import run
from isonet2.gui import api as gui_api
from isonet2.gui.api import LOG_CHUNK, Api
from isonet2.gui.jobs import JobQueue
from isonet2.io.star import read_star

REFUSED = "missing or wrong access token: open the URL that 'isonet.py gui' printed"


def raw_get(server: Any, path: str, headers: dict[str, str] | None = None):
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_token_is_required(gui_server: Any) -> None:
    # the token made when --token is not given: 24 random bytes, URL-safe (32 characters)
    assert len(gui_server.token) >= 32 and gui_server.token.isascii()
    status, payload = gui_server.call("GET", "/api/project", token=False)
    assert status == 403 and payload == {"error": REFUSED}
    response, body = raw_get(gui_server, "/")
    assert response.status == 403 and REFUSED in body.decode()
    response, _ = raw_get(gui_server, "/api/jobs", {"X-Isonet-Token": "wrong-token"})
    assert response.status == 403
    # the printed URL: a cookie and a redirect to the page without the token
    response, _ = raw_get(gui_server, f"/?token={gui_server.token}")
    assert response.status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    response, body = raw_get(gui_server, "/", {"Cookie": cookie.split(";")[0]})
    assert response.status == 200 and b"<html" in body.lower()
    response, _ = raw_get(gui_server, "/api/project", {"Cookie": cookie.split(";")[0]})
    assert response.status == 200
    status, payload = gui_server.call("GET", "/api/project")
    assert status == 200 and payload["project"] == str(gui_server.project.resolve())
    assert payload["default_star"] == "tomograms.star"


def test_paths_outside_the_project_are_refused(
    gui_server: Any, tmp_path: Path, mrc_writer: Callable[..., Path]
) -> None:
    project = gui_server.project
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.star").write_text((project / "tomograms.star").read_text())
    mrc_writer(outside / "secret.mrc", np.zeros((4, 4, 4)))
    (project / "link.star").symlink_to(outside / "secret.star")
    (project / "link.mrc").symlink_to(outside / "secret.mrc")
    (project / "linked_folder").symlink_to(outside)
    escapes = [
        "../outside/secret.star",
        str(outside / "secret.star"),
        "link.star",
        "linked_folder/secret.star",
        "sim/../../outside/secret.star",
    ]
    for path in escapes:
        mrc = path.replace(".star", ".mrc")
        for route in (
            f"/api/star?path={path}",
            f"/api/file?path={path}",
            f"/api/volume?path={mrc}",
            f"/api/slice.png?path={mrc}&axis=z&index=0",
        ):
            status, payload = gui_server.call("GET", route)
            assert status == 403, route
            assert payload["error"].startswith("path outside the project: ")
        body = {"path": path, "mtime_ns": "0", "columns": ["rlnIndex"], "rows": []}
        assert gui_server.call("PUT", "/api/star", body)[0] == 403
    # jobs may not name files outside the project either (a deconv job rewrote such a star)
    for values in (
        {"star_file": str(outside / "secret.star")},
        {"star_file": "../outside/secret.star"},
        {"star_file": "sim/../../outside/secret.star"},
    ):
        status, payload = gui_server.call(
            "POST", "/api/jobs", {"command": "deconv", "values": values}
        )
        assert status == 422 and "outside the project folder" in payload["errors"]["star_file"]
    status, payload = gui_server.call(
        "POST",
        "/api/jobs",
        {"command": "prepare_star", "values": {"full": "sim/full", "star_name": "../x.star"}},
    )
    assert status == 422 and list(payload["errors"]) == ["star_name"]
    status, payload = gui_server.call(
        "POST",
        "/api/command_line",
        {"command": "predict", "values": {"model": "m.pt", "output_prefix": "../p_"}},
    )
    assert status == 422 and "without '/'" in payload["errors"]["output_prefix"]
    body = {"command": "deconv", "values": {}, "run_now": "yes"}
    assert gui_server.call("POST", "/api/jobs", body)[0] == 400
    assert (outside / "secret.star").read_text() == (project / "tomograms.star").read_text()
    status, payload = gui_server.call("GET", "/api/volumes")
    assert not any("secret" in path for path in payload["volumes"])


def test_a_rejected_value_answers_the_models_message_by_field(gui_server: Any) -> None:
    values = {"cube_size": 40, "arch": "unet-huge", "epochs": 1}
    for route in ("/api/command_line", "/api/jobs"):
        status, payload = gui_server.call("POST", route, {"command": "refine", "values": values})
        assert status == 422
        assert payload["errors"]["cube_size"] == (
            "40 is not a multiple of 16 (the U-Net halves it 4 times)"
        )
        assert "unet-small" in payload["errors"]["arch"]
    status, payload = gui_server.call(
        "POST", "/api/command_line", {"command": "prepare_star", "values": {"ac": 1.5}}
    )
    assert status == 422 and "less than 1" in payload["errors"]["ac"]
    assert gui_server.call("GET", "/api/jobs")[1]["jobs"][0]["source"] == "cli"  # none added


def test_show_command_gives_the_exact_line(gui_server: Any) -> None:
    body = {
        "command": "refine",
        "values": {"epochs": 1, "cube_size": 32, "arch": "", "gpuID": None},
    }
    status, payload = gui_server.call("POST", "/api/command_line", body)
    assert status == 200
    assert payload["line"] == (
        "isonet.py refine tomograms.star -o refine/job1 --cube_size 32 --epochs 1"
    )
    assert payload["argv"] == payload["line"].split()[1:]


def test_commands_follow_the_tutorial(gui_server: Any) -> None:
    _, payload = gui_server.call("GET", "/api/commands")
    names = [command["name"] for command in payload["commands"]]
    assert names[:6] == ["prepare_star", "deconv", "make_mask", "denoise", "refine", "predict"]
    assert "gui" not in names
    refine = {field["name"]: field for field in payload["commands"][4]["fields"]}
    assert refine["cube_size"]["default"] == 96 and refine["cube_size"]["unit"] == "px"
    assert refine["arch"]["kind"] == "choice" and "unet-small" in refine["arch"]["choices"]
    assert refine["output_dir"]["readonly"] and refine["star_file"]["positional"] == 0


def test_the_star_table_round_trip(gui_server: Any) -> None:
    star = gui_server.project / "tomograms.star"
    text = star.read_text().splitlines()
    # an unknown column, as other tools write them
    header_end = max(i for i, line in enumerate(text) if line.startswith("_"))
    text.insert(header_end + 1, f"_rlnMyNote #{header_end}")
    text[header_end + 2 :] = [line + "  keep_me" for line in text[header_end + 2 :] if line]
    notes = "data_notes\n\nloop_\n_rlnMicrographName #1\nfoo.mrc\n"  # another block
    star.write_text("\n".join(text) + "\n\n" + notes)

    status, table = gui_server.call("GET", "/api/star?path=tomograms.star")
    assert status == 200 and "rlnMyNote" in table["columns"]
    defocus = table["columns"].index("rlnDefocus")
    assert table["rows"][0][defocus] == "30000.0"
    table["rows"][1][defocus] = "12345"
    status, saved = gui_server.call("PUT", "/api/star", table)
    assert status == 200 and saved["mtime_ns"] != table["mtime_ns"]
    rows = read_star(star).rows
    assert [row.defocus_angstrom for row in rows] == [30000.0, 12345.0]
    assert [row.extra["rlnMyNote"] for row in rows] == ["keep_me", "keep_me"]
    assert star.read_text().endswith(notes)
    assert not [p for p in star.parent.iterdir() if p.name.startswith(".tomograms.star")]

    # a cell with a line break would make the star unreadable, by the GUI too
    broken = {**table, "mtime_ns": saved["mtime_ns"], "rows": [list(r) for r in table["rows"]]}
    broken["rows"][0][defocus] = "3\n4"
    status, payload = gui_server.call("PUT", "/api/star", broken)
    assert status == 422 and "line break" in payload["errors"]["0:rlnDefocus"]
    assert read_star(star).rows[0].defocus_angstrom == 30000.0

    # a stale copy is refused; so is a defocus that is not a number
    status, payload = gui_server.call("PUT", "/api/star", table)
    assert status == 409 and "changed since it was loaded" in payload["error"]
    before = star.read_text()
    table["mtime_ns"] = saved["mtime_ns"]
    table["rows"][0][defocus] = "about 3 µm"
    status, payload = gui_server.call("PUT", "/api/star", table)
    assert status == 422
    assert "is not a number" in payload["errors"]["0:rlnDefocus"]
    assert star.read_text() == before


def test_volumes_and_slices(gui_server: Any, mrc_writer: Callable[..., Path]) -> None:
    mrc_writer(
        gui_server.project / "maps" / "small.mrc", np.arange(8 * 16 * 24).reshape(8, 16, 24), 7.0
    )
    status, payload = gui_server.call("GET", "/api/volumes")
    assert (
        "maps/small.mrc" in payload["volumes"] and "sim/even/sim_01_EVN.mrc" in payload["volumes"]
    )
    status, info = gui_server.call("GET", "/api/volume?path=maps/small.mrc")
    assert info["shape"] == [8, 16, 24] and info["voxel_size_angstrom"] == 7.0
    assert 0 <= info["lo"] < info["hi"] <= 8 * 16 * 24
    for axis, index, size in (("z", 3, (24, 16)), ("y", 15, (24, 8)), ("x", 0, (16, 8))):
        status, png = gui_server.call(
            "GET", f"/api/slice.png?path=maps/small.mrc&axis={axis}&index={index}&lo=0&hi=100"
        )
        assert status == 200 and png_size(png) == size
    status, payload = gui_server.call("GET", "/api/slice.png?path=maps/small.mrc&axis=z&index=8")
    assert status == 400 and "outside 0..7" in payload["error"]
    # numbers no slice, log or job has answer 400/404 (they were tracebacks and 500)
    for query in ("index=inf", "index=nan", "index=1e999", "lo=5&hi=1", "lo=-inf&hi=inf"):
        status, payload = gui_server.call("GET", f"/api/slice.png?path=maps/small.mrc&{query}")
        assert status == 400 and payload["error"].startswith(("index", "lo", "hi")), query
    assert gui_server.call("GET", "/api/jobs/1/log?offset=nan")[0] in (400, 404)
    for route in ("/api/jobs/99999999999999999999999", "/api/jobs/99999999999999999999999/log"):
        assert gui_server.call("GET", route)[0] == 404
    assert gui_server.call("POST", "/api/jobs/99999999999999999999999/cancel")[0] == 404
    status, data = gui_server.call("GET", "/api/file?path=tomograms.star")
    assert status == 200 and data == (gui_server.project / "tomograms.star").read_bytes()


def test_gui_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["gui", "--project", str(tmp_path / "missing"), "--open_browser", "False"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err
    (tmp_path / "tomograms.star").write_text("data_\n")
    assert run(["gui", "--project", str(tmp_path / "tomograms.star")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = ["gui", "--project", str(tmp_path), "--port", str(port), "--open_browser", "False"]
        assert run(line) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err
    line = ["gui", "--project", str(tmp_path), "--host", "999.1.1.1", "--open_browser", "False"]
    assert run(line) == 2  # no such address: the message must not blame the port alone
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot listen on 999.1.1.1:" in err and "check --host" in err


def test_one_server_per_project(gui_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line = ["gui", "--project", str(gui_server.project), "--port", "0", "--open_browser", "False"]
    assert run(line) == 2
    assert "already serves" in capsys.readouterr().err
    assert os.path.exists(gui_server.project / ".isonet_gui" / "jobs.sqlite")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_kill_and_hang_up_stop_the_server_cleanly(gui_server: Any, signum: int) -> None:
    started = time.monotonic()
    assert gui_server.stop(signum) == 0  # None: still serving after 10 s, killed
    assert time.monotonic() - started < 5
    assert "isonet2 GUI stopped; running jobs go on" in gui_server.stderr_path.read_text()
    gui_server.start()  # the project's lock was released
    assert gui_server.call("GET", "/api/project")[0] == 200


def raw_request(server: Any, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """One request with a raw body and the token; (status, parsed JSON) back."""
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"X-Isonet-Token": server.token, "Content-Type": "application/json"}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    return response.status, payload


def test_requests_found_by_anapi_get_a_json_answer_and_stay_inside(
    gui_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of these was a file written outside the project, a file served from outside it,
    a 500 with a traceback in the server's log, or no answer at all."""
    project = gui_server.project
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the project's\n")
    # a path value sent as a list was joined into one word and never checked: the job wrote
    # ../evil.star; an object value became the text "{'a': 'b'}"
    for values, field in (
        ({"full": "sim/full", "star_name": ["../evil.star"]}, "star_name"),
        ({"full": "sim/full", "star_name": {"a": "b"}}, "star_name"),
    ):
        body = {"command": "prepare_star", "values": values}
        status, payload = gui_server.call("POST", "/api/jobs", body)
        assert status == 422 and list(payload["errors"]) == [field], payload
    assert not (project.parent / "evil.star").exists()
    # a job's log is read through the sandbox: a log.txt linked to a file outside is refused
    values = {"star_file": "tomograms.star", "output_dir": "masks"}
    status, payload = gui_server.call(
        "POST", "/api/jobs", {"command": "make_mask", "values": values}
    )
    assert status == 201, payload
    job = gui_server.wait_for(payload["job"]["id"], {"finished", "failed"})
    log = project / job["folder"] / "log.txt"
    status, payload = gui_server.call("GET", f"/api/jobs/{job['id']}/log?offset=1e14")
    assert status == 200 and payload["text"] == ""  # was a 500 (seek past what the OS allows)
    log.unlink()
    log.symlink_to(outside / "secret.txt")
    status, payload = gui_server.call("GET", f"/api/jobs/{job['id']}/log")
    assert status == 403 and payload["error"].startswith("path outside the project: ")
    # a request nested too deep for the JSON parser got no reply at all
    status, payload = raw_request(gui_server, "POST", "/api/command_line", b"[" * 200_000)
    assert status == 400 and payload == {"error": "the request body is not JSON"}
    status, payload = raw_request(gui_server, "PATCH", "/api/jobs", b"{}")
    assert status == 405 and payload == {"error": "PATCH is not allowed on /api/jobs"}
    # "²" passes str.isdigit but not int(): a 500
    assert gui_server.call("GET", "/api/jobs/%C2%B2")[0] == 404
    # a file where a job's folder goes: NotADirectoryError, a 500
    (project / "refine").write_text("notes\n")
    body = {"command": "refine", "values": {"star_file": "tomograms.star"}}
    status, payload = gui_server.call("POST", "/api/jobs", body)
    assert status == 409 and "refine" in payload["error"] and "directory" in payload["error"], (
        payload
    )
    # re-running a command-line run re-checks its paths: a deconv of a star outside the
    # project was queued again as it was, and rewrote that star
    (outside / "tomograms.star").write_text((project / "tomograms.star").read_text())
    monkeypatch.chdir(project)
    assert (
        run(["deconv", str(outside / "tomograms.star"), "--output_dir", "dc", "--tomo_idx", "1"])
        == 0
    )
    runs = gui_server.call("GET", "/api/jobs")[1]["jobs"]
    deconv = next(job for job in runs if job["command"] == "deconv" and job["source"] == "cli")
    status, payload = gui_server.call("POST", f"/api/jobs/{deconv['id']}/rerun")
    assert status == 422 and "outside the project folder" in payload["errors"]["star_file"]


def test_an_unreadable_job_table_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".isonet_gui").mkdir()
    (tmp_path / ".isonet_gui" / "jobs.sqlite").write_bytes(b"SQLite format 3\x00garbage")
    line = ["gui", "--project", str(tmp_path), "--port", "0", "--open_browser", "False"]
    assert run(line) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "jobs.sqlite: cannot read the GUI's job table" in err


@pytest.fixture
def inprocess_api(one_job_queue: JobQueue) -> Api:
    """An Api over one_job_queue's project (conftest): no server process, no queue thread."""
    return Api(one_job_queue.root, one_job_queue)


def api_get(api: Api, route: str, **query: str):
    return api.handle("GET", route, {k: [v] for k, v in query.items()}, None)


def test_a_job_path_into_a_sibling_with_the_projects_name_prefix_is_refused(
    inprocess_api: Api,
) -> None:
    api = inprocess_api
    sibling = api.root.parent / (api.root.name + "_other")
    sibling.mkdir()
    for value in (f"../{sibling.name}/t.star", str(sibling / "t.star")):
        body = {"command": "deconv", "values": {"star_file": value}}
        reply = api.handle("POST", "/api/command_line", {}, body)
        assert reply.status == 422, reply.body
        assert "outside the project folder" in reply.body["errors"]["star_file"]


def test_log_offsets_are_clamped_and_never_cut_a_character(inprocess_api: Api) -> None:
    api = inprocess_api
    text = "a" * (LOG_CHUNK - 1) + "µm" + "\nend\n"  # µ's 2 bytes straddle the chunk's end
    (api.root / "simulate" / "job1" / "log.txt").write_bytes(text.encode())
    size = len(text.encode())
    reply = api_get(api, "/api/jobs/1/log", offset="-5")  # a negative offset reads from 0
    assert reply.status == 200 and reply.body["offset"] == LOG_CHUNK - 1
    read, offset = reply.body["text"], reply.body["offset"]
    while True:
        reply = api_get(api, "/api/jobs/1/log", offset=str(offset))
        if not reply.body["text"]:
            break
        read, offset = read + reply.body["text"], reply.body["offset"]
    assert read == text and offset == size
    reply = api_get(api, "/api/jobs/1/log", offset="1e9")  # past the end: the end
    assert reply.status == 200 and reply.body == {"text": "", "offset": size}


def test_a_star_table_with_a_short_row_is_422_not_500(inprocess_api: Api) -> None:
    api = inprocess_api
    body = {
        "path": "t.star",
        "mtime_ns": "0",
        "columns": ["rlnIndex", "rlnDefocus"],
        "rows": [["1"]],
    }
    reply = api.handle("PUT", "/api/star", {}, body)
    assert reply.status == 422 and "row 0 has 1 cells for 2 columns" in reply.body["error"]
    assert not (api.root / "t.star").exists()


def test_slice_contrast_needs_lo_below_hi_and_files_are_files(
    inprocess_api: Api, mrc_writer: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = inprocess_api
    mrc_writer(api.root / "v.mrc", np.arange(64, dtype=np.float32).reshape(4, 4, 4), 1.0)
    reply = api_get(api, "/api/slice.png", path="v.mrc", lo="3", hi="3")
    assert reply.status == 400 and "lo must be below hi" in reply.body["error"]
    assert api_get(api, "/api/file", path="").status == 400  # a missing path, not a 403
    reply = api_get(api, "/api/file", path="simulate")  # a folder is no file
    assert reply.status == 404 and "no such file" in reply.body["error"]
    monkeypatch.setattr(gui_api, "MAX_FILE_BYTES", 100)
    assert api_get(api, "/api/file", path="v.mrc").status == 413


def headers_only(server: Any, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """A request of exactly these headers and no body (a Content-Length given is not sent)."""
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.putrequest(method, path)
    for key, value in headers.items():
        connection.putheader(key, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_an_empty_or_partial_token_is_refused(gui_server: Any) -> None:
    for path, headers in (
        ("/api/project?token=", {}),
        ("/api/project", {"Cookie": "isonet_token="}),
        ("/api/project", {"X-Isonet-Token": ""}),
        (f"/api/project?token={gui_server.token[:4]}", {}),
        ("/?token=", {}),
    ):
        response, body = raw_get(gui_server, path, headers)
        assert response.status == 403 and REFUSED.encode() in body, (path, headers)


def test_a_body_over_the_limit_is_refused_unread(gui_server: Any) -> None:
    headers = {"X-Isonet-Token": gui_server.token, "Content-Length": str(65 * 1024 * 1024)}
    status, body = headers_only(gui_server, "POST", "/api/jobs", headers)  # no body is sent
    assert status == 413 and b"too large" in body
    assert gui_server.call("GET", "/api/project")[0] == 200  # the server still answers


def test_static_paths_never_leave_the_static_folder(gui_server: Any) -> None:
    headers = {"X-Isonet-Token": gui_server.token}
    for path in (
        "/static/../api.py",
        "/static/../../../../../../../../etc/passwd",
        "/static/..\\api.py",
        "/static/.hidden",
    ):
        response, _ = raw_get(gui_server, path, headers)
        assert response.status == 404, path
    # a real static file is served, and no answer lets a browser guess another content type
    response, body = raw_get(gui_server, "/static/app.js", headers)
    assert response.status == 200 and body
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Content-Type", "").startswith("text/javascript")
