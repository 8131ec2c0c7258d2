"""The HTTP side of the GUI: the access token, static files and the JSON API's plumbing.

Example:
    server = make_server(root, host="127.0.0.1", port=0, token="s3cret-token")
    print(server.server_address)
    server.serve_forever()

A stdlib ThreadingHTTPServer. Every request needs the token: `?token=` (a page opened with it
also gets an HttpOnly cookie and a redirect to the same path without it), the `isonet_token`
cookie, or the `X-Isonet-Token` header. Routes under /api are answered by `api.Api`.
"""

from __future__ import annotations

import hmac
import json
import logging
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from isonet2.gui.api import Api, ApiError, Reply, json_body
from isonet2.gui.jobs import JobQueue

logger = logging.getLogger(__name__)

COOKIE = "isonet_token"
HEADER = "X-Isonet-Token"
REFUSED = "missing or wrong access token: open the URL that 'isonet.py gui' printed"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
MAX_BODY = 64 * 1024 * 1024


class GuiServer(ThreadingHTTPServer):
    """The HTTP server, holding the token and the API of one project."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], token: str, api: Api) -> None:
        super().__init__(address, Handler)
        self.token = token
        self.api = api


def static_file(name: str) -> bytes | None:
    """A file of the package's static/ folder, or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    item = resources.files("isonet2.gui").joinpath("static", name)
    try:
        return item.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


class Handler(BaseHTTPRequestHandler):
    """One request: check the token, then a static file or an API route."""

    server: GuiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # the other methods get this server's answers (405 in JSON under /api), not the standard
    # library's 501 page
    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def _given_tokens(self, query: dict[str, list[str]]) -> tuple[str | None, list[str]]:
        from_query = query.get("token", [None])[0]
        others = []
        header = self.headers.get(HEADER)
        if header:
            others.append(header)
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            cookie = SimpleCookie()
        if COOKIE in cookie:
            others.append(cookie[COOKIE].value)
        return from_query, others

    def _matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.server.token.encode())

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        is_api = path.startswith("/api/") or path == "/api"
        from_query, others = self._given_tokens(query)
        query_ok = self._matches(from_query)
        if not query_ok and not any(self._matches(token) for token in others):
            self._drain()
            if is_api:
                self._reply(Reply(403, {"error": REFUSED}))
            else:
                page = f"<!doctype html><title>isonet2</title><p>{REFUSED}</p>".encode()
                self._reply(Reply(403, page, "text/html; charset=utf-8"))
            return
        cookie = {}
        if query_ok:
            cookie = {
                "Set-Cookie": f"{COOKIE}={self.server.token}; HttpOnly; SameSite=Strict; Path=/"
            }
        if query_ok and not is_api and method == "GET":
            rest = {key: value for key, value in query.items() if key != "token"}
            target = path + ("?" + urlencode(rest, doseq=True) if rest else "")
            self._reply(Reply(303, b"", "text/plain", {"Location": target, **cookie}))
            return
        reply = self._api(method, path, query) if is_api else self._static(method, path)
        reply.headers.update(cookie)
        self._reply(reply)

    def _drain(self) -> bytes | None:
        """The request body; None (and the connection closed after the reply) when too big."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _api(self, method: str, path: str, query: dict[str, list[str]]) -> Reply:
        raw = self._drain()
        if raw is None:
            return Reply(413, {"error": "the request body is too large"})
        try:
            body = json_body(raw)
        except ApiError as error:
            return Reply(error.status, {"error": str(error)})
        try:
            return self.server.api.handle(method, path, query, body)
        except Exception:  # a bug: answer 500 with one line, keep the traceback in the log
            logger.exception("%s %s failed", method, path)
            return Reply(500, {"error": f"internal error in {method} {path}; see the server log"})

    def _static(self, method: str, path: str) -> Reply:
        self._drain()
        if method != "GET":
            return Reply(405, b"method not allowed", "text/plain")
        name = "index.html" if path in ("/", "/index.html") else None
        if path.startswith("/static/"):
            name = path.removeprefix("/static/")
        content = static_file(name) if name else None
        if content is None:
            return Reply(404, b"not found", "text/plain")
        kind = STATIC_TYPES.get(Path(name or "").suffix, "application/octet-stream")
        return Reply(200, content, kind, {"Cache-Control": "no-cache"})

    def _reply(self, reply: Reply) -> None:
        body = reply.body
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(reply.status, HTTPStatus(reply.status).phrase)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def make_server(root: Path, host: str, port: int, token: str) -> GuiServer:
    """Bind the server to (host, port) (OSError when taken) and start the job queue."""
    queue = JobQueue(root)
    try:
        server = GuiServer((host, port), token, Api(root, queue))
    except OSError:
        queue.stop()
        raise
    queue.start()
    return server
