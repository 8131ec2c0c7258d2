"""The JSON API: one function per route, each (request) -> Reply; no HTTP plumbing here.

Example:
    api = Api(root, JobQueue(root))
    reply = api.handle("GET", "/api/jobs", {}, None)
    print(reply.status, reply.body)

Every path a request names goes through `project.inside`, so nothing outside the project folder
is read or written (403). Form mistakes answer 422 with the config model's messages by field.
The routes and payloads are those of docs/gui_api.md.
"""

from __future__ import annotations

import json
import math
import mimetypes
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isonet2 import __version__
from isonet2.config import COMMANDS
from isonet2.config.argv import value_word
from isonet2.errors import InputError, os_error_line
from isonet2.gui import forms, project, starjson, views
from isonet2.gui.events import JobEvents
from isonet2.gui.jobs import JobError, JobQueue
from isonet2.gui.runjob import EVENTS_NAME, LOG_NAME
from isonet2.gui.store import JobRecord
from isonet2.gui.volumes import AXES, contrast_range, slice_png
from isonet2.io.mrc import open_volume, read_info

LOG_CHUNK = 256 * 1024
MAX_FILE_BYTES = 64 * 1024 * 1024
TEXT_TYPES = {".txt", ".log", ".star", ".json", ".jsonl", ".csv", ".md"}


@dataclass
class Reply:
    """What to answer: status, a JSON payload or raw bytes, and extra headers."""

    status: int
    body: Any
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An answer other than success: 4xx with {"error": message} (or {"errors": {...}})."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values or not values[0]:
        raise ApiError(400, f"missing query parameter {name}")
    return values[0]


def _number(query: dict[str, list[str]], name: str, default: float | None = None) -> float:
    if name not in query and default is not None:
        return default
    text = _one(query, name)
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value) or abs(value) > MAX_QUERY_NUMBER:
        raise ApiError(
            400, f"{name} must be a finite number up to {MAX_QUERY_NUMBER:g}, not {text!r}"
        )
    return value


# form fields that name files or folders the job reads or writes (output_dir is the GUI's own)
PATH_FIELDS = frozenset(
    {
        "star_file",
        "star",
        "star_name",
        "full",
        "even",
        "odd",
        "mask_folder",
        "coordinate_folder",
        "model",
        "model2",
        "pretrained_model",
        "volume",
        "reference",
        "ground_truth",
    }
)
MAX_QUERY_NUMBER = 1e15  # beyond any slice index, log offset or contrast limit
MAX_JOB_ID = 2**62  # job ids are SQLite integers


def _job_number(job_id: str) -> int:
    """A numeric job id as an int; ApiError 404 for one no queue ever hands out."""
    number = int(job_id)
    if number > MAX_JOB_ID:
        raise ApiError(404, f"no job {job_id}")
    return number


class Api:
    """The routes of the JSON API over one project and its job queue."""

    def __init__(self, root: Path, queue: JobQueue) -> None:
        self.root = root
        self.queue = queue
        self._events: dict[int, JobEvents] = {}
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
            ("GET", re.compile(r"/api/project"), self.get_project),
            ("GET", re.compile(r"/api/commands"), self.get_commands),
            ("POST", re.compile(r"/api/command_line"), self.post_command_line),
            ("GET", re.compile(r"/api/jobs"), self.get_jobs),
            ("POST", re.compile(r"/api/jobs"), self.post_jobs),
            ("GET", re.compile(r"/api/jobs/([A-Za-z0-9_-]+)"), self.get_job),
            ("DELETE", re.compile(r"/api/jobs/([A-Za-z0-9_-]+)"), self.delete_job),
            ("GET", re.compile(r"/api/jobs/([A-Za-z0-9_-]+)/log"), self.get_log),
            ("POST", re.compile(r"/api/jobs/([A-Za-z0-9_-]+)/cancel"), self.post_cancel),
            ("POST", re.compile(r"/api/jobs/([A-Za-z0-9_-]+)/rerun"), self.post_rerun),
            ("GET", re.compile(r"/api/star"), self.get_star),
            ("PUT", re.compile(r"/api/star"), self.put_star),
            ("GET", re.compile(r"/api/volumes"), self.get_volumes),
            ("GET", re.compile(r"/api/volume"), self.get_volume),
            ("GET", re.compile(r"/api/slice\.png"), self.get_slice),
            ("GET", re.compile(r"/api/file"), self.get_file),
        ]

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        """Answer one request; errors become 4xx replies."""
        known_path = False
        for verb, pattern, route in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            known_path = True
            if verb != method:
                continue
            try:
                return route(*match.groups(), query=query, body=body)
            except ApiError as error:
                payload = {"errors": error.errors} if error.errors else {"error": str(error)}
                return Reply(error.status, payload)
            except project.OutsideProject as error:
                return Reply(403, {"error": f"path outside the project: {error}"})
            except forms.FormError as error:
                return Reply(422, {"errors": error.errors})
            except JobError as error:
                return Reply(error.status, {"error": str(error)})
            except InputError as error:
                return Reply(422, {"error": str(error)})
            except OSError as error:  # a file in the way of a job folder, a full disk, ...
                return Reply(409, {"error": os_error_line(error)})
        if known_path:
            return Reply(405, {"error": f"{method} is not allowed on {path}"})
        return Reply(404, {"error": f"no such API route: {path}"})

    def path(self, text: str) -> Path:
        """A request's path inside the project (OutsideProject -> 403)."""
        return project.inside(self.root, text)

    # ---- project and forms
    def get_project(self, *, query: Any, body: Any) -> Reply:
        stars = project.star_files(self.root)
        return Reply(
            200,
            {
                "project": str(self.root),
                "version": __version__,
                "star_files": stars,
                "default_star": project.default_star(stars),
                "checkpoints": project.checkpoint_files(self.root),
            },
        )

    def get_commands(self, *, query: Any, body: Any) -> Reply:
        schemas = [forms.command_schema(COMMANDS[name]) for name in forms.offered_commands()]
        return Reply(200, {"commands": schemas})

    def _form(self, body: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("command"), str):
            raise ApiError(400, 'send {"command": NAME, "values": {...}}')
        values = body.get("values", {})
        if not isinstance(values, dict):
            raise ApiError(400, "values must be an object {field: value}")
        if not isinstance(body.get("run_now", False), bool):
            raise ApiError(400, "run_now must be true or false")
        self._check_values(values)
        return body["command"], values

    def _check_values(self, values: dict[str, Any]) -> None:
        """FormError for an object value, or a path value (any JSON type) leaving the project."""
        problems = {
            name: "give a number, text, true/false or a list, not an object"
            for name, value in values.items()
            if isinstance(value, dict)
        }
        for name, value in values.items():
            if name in PATH_FIELDS and value is not None and name not in problems:
                text = value_word(value)  # the word the job gets: a list is joined by commas
                if not self._lexically_inside(text):
                    problems[name] = (
                        f"{text} is outside the project folder; jobs read and write only inside it"
                    )
        prefix = values.get("output_prefix")
        if prefix is not None and re.search(r"[/\\]", value_word(prefix)):
            problems["output_prefix"] = "a prefix of file names, without '/'"
        if problems:
            raise forms.FormError(problems)

    def _lexically_inside(self, value: str) -> bool:
        """Whether a job's path value, as written, stays in the project: no '..' out of it
        and no absolute path elsewhere. Symlinks a user put in the project are followed, as
        the commands follow them (README, Decisions)."""
        if not value.strip():
            return True  # empty = the default
        folded = Path(os.path.normpath(self.root / value))
        return folded == self.root or self.root in folded.parents

    def post_command_line(self, *, query: Any, body: Any) -> Reply:
        command, values = self._form(body)
        argv, line = self.queue.preview(command, values)
        return Reply(200, {"argv": argv, "line": line})

    # ---- jobs
    def post_jobs(self, *, query: Any, body: Any) -> Reply:
        command, values = self._form(body)
        job = self.queue.submit(command, values, run_now=body.get("run_now") is True)
        return Reply(201, {"job": self.job_view(job)})

    def get_jobs(self, *, query: Any, body: Any) -> Reply:
        records = self.queue.store.all()
        gui_argvs = {tuple(job.argv) for job in records}
        listed = [self.job_view(job) for job in records]
        listed += [views.external_view(self.root, run) for run in self._externals(gui_argvs)]
        listed.sort(key=views.newest_first)
        return Reply(200, {"jobs": listed})

    def _externals(self, gui_argvs: set[tuple[str, ...]] | None = None) -> list[Any]:
        if gui_argvs is None:
            gui_argvs = {tuple(job.argv) for job in self.queue.store.all()}
        return project.external_runs(self.root, gui_argvs)

    def _external(self, job_id: str) -> project.ExternalRun:
        for run in self._externals():
            if run.id == job_id:
                return run
        raise ApiError(404, f"no job {job_id}")

    def _record(self, job_id: str) -> JobRecord:
        if not job_id.isdigit():
            self._external(job_id)  # 404 when unknown
            raise ApiError(409, f"{job_id} was run from the command line; the GUI cannot change it")
        return self.queue.get(_job_number(job_id))

    def get_job(self, job_id: str, *, query: Any, body: Any) -> Reply:
        if not job_id.isdigit():
            return Reply(200, {"job": views.external_view(self.root, self._external(job_id))})
        return Reply(200, {"job": self.job_view(self.queue.get(_job_number(job_id)))})

    def get_log(self, job_id: str, *, query: dict[str, list[str]], body: Any) -> Reply:
        if job_id.isdigit():
            folder = self.queue.get(_job_number(job_id)).folder
        else:
            folder = self._external(job_id).folder
        offset = max(0, int(_number(query, "offset", 0)))
        try:
            with self.path(f"{folder}/{LOG_NAME}").open("rb") as stream:
                offset = min(offset, os.fstat(stream.fileno()).st_size)
                stream.seek(offset)
                chunk = stream.read(LOG_CHUNK)
        except FileNotFoundError:
            return Reply(200, {"text": "", "offset": offset})
        cut = utf8_end(chunk)
        text = chunk[:cut].decode("utf-8", errors="replace")
        return Reply(200, {"text": text, "offset": offset + cut})

    def post_cancel(self, job_id: str, *, query: Any, body: Any) -> Reply:
        job = self.queue.cancel(self._record(job_id).id)
        return Reply(200, {"job": self.job_view(job)})

    def post_rerun(self, job_id: str, *, query: Any, body: Any) -> Reply:
        # a command-line run may have named paths anywhere; a job's stored values are checked
        # again too (they were stored before object and list values were checked)
        if job_id.isdigit():
            stored = self.queue.get(_job_number(job_id))
            self._check_values(stored.values)
            job = self.queue.rerun(stored.id)
        else:
            run = self._external(job_id)
            values = views.changed_values(run)
            self._check_values(values)
            job = self.queue.submit(run.command, values, run_now=False)
        return Reply(201, {"job": self.job_view(job)})

    def delete_job(self, job_id: str, *, query: Any, body: Any) -> Reply:
        record = self._record(job_id)
        self.queue.delete(record.id)
        self._events.pop(record.id, None)
        return Reply(200, {"deleted": record.id})

    def job_view(self, job: JobRecord) -> dict[str, Any]:
        """The JOB object of a GUI job, its events read on from where they were last read."""
        seen = self._events.get(job.id)
        if seen is None:
            seen = JobEvents(self.root / job.folder / EVENTS_NAME, self.root)
            self._events[job.id] = seen
        return views.job_view(job, seen)

    # ---- star table
    def get_star(self, *, query: dict[str, list[str]], body: Any) -> Reply:
        path = self.path(_one(query, "path"))
        return Reply(200, starjson.star_payload(self.root, path))

    def put_star(self, *, query: Any, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            raise ApiError(400, 'send {"path", "mtime_ns", "columns", "rows"}')
        path = self.path(body["path"])
        try:
            payload = starjson.save_star(self.root, path, body)
        except starjson.StaleStar as error:
            raise ApiError(409, str(error)) from None
        except starjson.BadCells as error:
            raise ApiError(422, str(error), error.errors) from None
        return Reply(200, payload)

    # ---- volumes and files
    def get_volumes(self, *, query: Any, body: Any) -> Reply:
        return Reply(200, {"volumes": project.volume_files(self.root)})

    def get_volume(self, *, query: dict[str, list[str]], body: Any) -> Reply:
        text = _one(query, "path")
        path = self.path(text)
        info = read_info(path)
        lo, hi = contrast_range(open_volume(path))
        return Reply(
            200,
            {
                "path": project.relative(self.root, path),
                "shape": list(info.shape),
                "voxel_size_angstrom": info.pixel_size_angstrom,
                "lo": lo,
                "hi": hi,
            },
        )

    def get_slice(self, *, query: dict[str, list[str]], body: Any) -> Reply:
        path = self.path(_one(query, "path"))
        axis = query.get("axis", ["z"])[0]
        if axis not in AXES:
            raise ApiError(400, f"axis must be one of {', '.join(AXES)}")
        volume = open_volume(path)
        size = volume.shape[AXES.index(axis)]
        index = int(_number(query, "index", size // 2))
        if "lo" in query and "hi" in query:
            lo, hi = _number(query, "lo"), _number(query, "hi")
            if not lo < hi:
                raise ApiError(400, f"lo must be below hi, not {lo:g} and {hi:g}")
        else:
            lo, hi = contrast_range(volume)
        try:
            png = slice_png(volume, axis, index, lo, hi)
        except IndexError as error:  # take_slice checks the index
            raise ApiError(400, str(error)) from None
        return Reply(200, png, "image/png", {"Cache-Control": "no-store"})

    def get_file(self, *, query: dict[str, list[str]], body: Any) -> Reply:
        path = self.path(_one(query, "path"))
        if not path.is_file():
            raise ApiError(404, f"no such file: {_one(query, 'path')}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ApiError(
                413, f"{_one(query, 'path')} is too large to send; view volumes in the viewer"
            )
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix.lower() in TEXT_TYPES:
            kind = "text/plain; charset=utf-8"
        return Reply(200, path.read_bytes(), kind, {"Cache-Control": "no-store"})


def utf8_end(chunk: bytes) -> int:
    """The length of `chunk` without a UTF-8 character cut off at its end."""
    for back in range(1, min(4, len(chunk)) + 1):
        byte = chunk[-back]
        if byte & 0xC0 != 0x80:  # ASCII or the first byte of a character
            need = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(chunk) if back >= need else len(chunk) - back
    return len(chunk)


def json_body(raw: bytes) -> Any:
    """A request body as JSON (None when empty); ApiError 400 when it is not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: [[[[... nested too deep
        raise ApiError(400, "the request body is not JSON") from None
