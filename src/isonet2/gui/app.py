"""`isonet.py gui`: serve the GUI of one project folder until Ctrl-C (or SIGTERM, SIGHUP).

Example:
    isonet.py gui --project my_project
    isonet.py gui --port 0 --open_browser False     # any free port; the URL says which

Prints `isonet2 GUI: http://HOST:PORT/?token=TOKEN` (one line, flushed: scripts parse it) and
how to reach it through an SSH tunnel. One server per project at a time (a lock file in
.isonet_gui/); jobs run in their own process groups and outlive the server, and the next
server adopts them.

Stopping: Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all stop the server the same
way (socket closed, queue stopped, lock released, exit 0). A signal the server was started with
ignored stays ignored: under `nohup`, or `... &` from a script, SIGHUP or SIGINT do not stop it,
as the shell intended; SIGTERM always does.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import sqlite3
import sys
import threading
import webbrowser
from pathlib import Path
from typing import IO

from isonet2.config.gui import GuiConfig
from isonet2.errors import InputError, UsageError
from isonet2.gui.project import GUI_FOLDER
from isonet2.gui.server import make_server
from isonet2.io.stopsignals import stop_signals_raise


def project_root(folder: str) -> Path:
    """The project folder, resolved; InputError when it is not a folder."""
    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(
            f"--project {folder}: is a file, not a folder; give the project folder, the one "
            "the star file is in"
        )
    if not root.is_dir():
        raise InputError(f"--project {folder}: no such folder; create it or give another")
    return root.resolve()


def lock_project(root: Path) -> IO[str]:
    """Hold .isonet_gui/server.lock; UsageError when another server holds it."""
    try:
        (root / GUI_FOLDER).mkdir(exist_ok=True)
        handle = (root / GUI_FOLDER / "server.lock").open("a")
    except OSError as error:
        raise InputError(f"{root}: cannot write the GUI's folder {GUI_FOLDER} ({error})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(
            f"another 'isonet.py gui' already serves {root}; use its address or stop it first"
        ) from None
    return handle


def browser_available() -> bool:
    """True where a web browser can open: not on a headless Linux node (no display)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def run(cfg: GuiConfig) -> None:
    """Serve until interrupted; errors a user can fix raise InputError/UsageError."""
    root = project_root(cfg.project)
    lock = lock_project(root)
    token = cfg.token or secrets.token_urlsafe(24)
    try:
        server = make_server(root, cfg.host, cfg.port, token)
    except sqlite3.DatabaseError as error:
        lock.close()
        raise InputError(
            f"{root / GUI_FOLDER / 'jobs.sqlite'}: cannot read the GUI's job table ({error}); "
            "move the file away (the job folders stay) and start again"
        ) from None
    except OSError as error:
        lock.close()
        raise UsageError(
            f"cannot listen on {cfg.host}:{cfg.port} ({error.strerror or error}); "
            "check --host (an address of this machine) or choose another --port (0 = any "
            "free port)"
        ) from None
    port = server.server_address[1]
    url = f"http://{cfg.host}:{port}/?token={token}"
    print(f"isonet2 GUI: {url}", flush=True)
    tunnel = f"ssh -N -L {port}:localhost:{port} user@{socket.gethostname()}"
    print(
        f"from another computer: {tunnel}, then "
        f"open http://localhost:{port}/?token={token} there (Ctrl-C here stops the GUI; "
        "running jobs go on)",
        flush=True,
    )
    if cfg.open_browser and browser_available():
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        with stop_signals_raise():
            server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("isonet2 GUI stopped; running jobs go on", file=sys.stderr, flush=True)
    finally:
        server.server_close()
        server.api.queue.stop()
        lock.close()
