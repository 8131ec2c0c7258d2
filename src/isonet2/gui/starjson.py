"""The star table as the GUI edits it: cells as text in, checked and typed, written atomically.

Example:
    payload = star_payload(root, root / "tomograms.star")   # path, mtime_ns, columns, rows
    payload["rows"][0][payload["columns"].index("rlnDefocus")] = "31000"
    save_star(root, root / "tomograms.star", payload)       # StaleStar if changed meanwhile

Cells are shown exactly as the file has them; on saving, every cell of a known column must
parse as its column's type (BadCells lists each one that does not, as "ROW:COLUMN" with ROW
counted from 0), unknown columns are kept as they are, and `io.star.write_star` writes the file
(temp file + rename). `mtime_ns` travels as a string of digits: a JavaScript number cannot
hold nanoseconds since 1970 exactly.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from isonet2.errors import InputError
from isonet2.gui.project import relative
from isonet2.io.star import StarCells, parse_cell, read_star_cells, table_from_cells, write_star

_SAVING = threading.Lock()


class StaleStar(Exception):
    """The star file changed since the client read it."""


class BadCells(Exception):
    """Cells that do not parse: {"ROW:COLUMN": message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(f"{len(errors)} cell(s) do not parse; fix them and save again")
        self.errors = errors


def star_payload(root: Path, path: Path) -> dict[str, Any]:
    """{"path", "mtime_ns", "columns", "rows"} of a star file, cells as text."""
    cells = read_star_cells(path)
    return {
        "path": relative(root, path),
        "mtime_ns": str(path.stat().st_mtime_ns),
        "columns": cells.labels,
        "rows": cells.rows,
    }


def _text(value: Any) -> str:
    return "None" if value is None else str(value)


def cells_from_body(body: dict[str, Any]) -> StarCells:
    """The columns and rows a client sent, as StarCells; InputError when malformed."""
    columns, rows = body.get("columns"), body.get("rows")
    if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
        raise InputError("columns must be a list of column names")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise InputError("rows must be a list of lists of cells")
    for number, row in enumerate(rows):
        if len(row) != len(columns):
            raise InputError(f"row {number} has {len(row)} cells for {len(columns)} columns")
    return StarCells(
        block_name=str(body.get("block_name", "")),
        labels=list(columns),
        rows=[[_text(cell) for cell in row] for row in rows],
    )


def check_cells(cells: StarCells) -> dict[str, str]:
    """Every cell of a known column that does not parse: {"ROW:COLUMN": message}."""
    errors = {}
    for number, row in enumerate(cells.rows):
        for label, text in zip(cells.labels, row, strict=True):
            if any(ord(character) < 32 for character in text):  # a line break ends the row
                errors[f"{number}:{label}"] = (
                    f"row {number + 1}, column {label}: a line break or other control "
                    "character cannot stand in a star cell"
                )
                continue
            try:
                parse_cell(label, text, f"row {number + 1}, column {label}")
            except InputError as error:
                errors[f"{number}:{label}"] = str(error)
    return errors


def save_star(root: Path, path: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Check and write the edited table; returns {"path", "mtime_ns"} of the new file."""
    cells = cells_from_body(body)
    errors = check_cells(cells)
    if errors:
        raise BadCells(errors)
    with _SAVING:
        try:
            current = path.stat().st_mtime_ns
        except FileNotFoundError:
            current = None
        if current is not None and str(body.get("mtime_ns")) != str(current):
            raise StaleStar(
                f"{relative(root, path)} changed since it was loaded (a job may have "
                "rewritten it); reload the table and make the edit again"
            )
        if current is not None:  # the table is edited; the file's other blocks stay
            existing = read_star_cells(path)
            cells.block_name, cells.comments = existing.block_name, existing.comments
            cells.before, cells.after = existing.before, existing.after
        table = table_from_cells(cells, relative(root, path))
        write_star(table, path)
        return {"path": relative(root, path), "mtime_ns": str(path.stat().st_mtime_ns)}
