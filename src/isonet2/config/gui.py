"""Config model of `gui`."""

from __future__ import annotations

from pydantic import field_validator

from isonet2.config.base import CommandConfig, param


class GuiConfig(CommandConfig):
    """Start the local web GUI: forms for every step, the star table, a job queue, a viewer.

    Prints the address with an access token (only its holder can use the page) and opens a
    browser when one is available. It serves on localhost only, unless --host says otherwise;
    the page shows and edits only files inside the project folder, where it keeps its job queue
    (.isonet_gui/jobs.sqlite) and one folder per job (<step>/job<N>/). On a cluster node, start
    it there and forward the port: ssh -N -L 8765:localhost:8765 user@node, then open the
    printed address on your own computer.

    Example:
        isonet.py gui
        isonet.py gui --project my_project --port 8800 --open_browser False
    """

    command = "gui"

    project: str = param(".", "project folder: jobs run in it and the GUI sees only inside it")
    port: int = param(8765, "TCP port; 0 = any free port", ge=0, le=65535)
    host: str = param(
        "127.0.0.1", "address to listen on; keep 127.0.0.1 and use an SSH tunnel on clusters"
    )
    token: str | None = param(
        None, "access token in the printed address; None = a new random token each start"
    )
    open_browser: bool = param(True, "open the address in a web browser when one is available")

    @field_validator("token")
    @classmethod
    def _token_is_url_safe(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) < 8 or not value.replace("-", "").replace("_", "").isalnum()
        ):
            raise ValueError("use at least 8 letters, digits, '-' or '_'")
        return value
