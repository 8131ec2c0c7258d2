"""The tomogram table (tomograms.star) as typed rows; the only module that spells rln labels.

Example:
    table = read_star("tomograms.star")
    for row in table.rows:
        print(row.index, row.tomogram_path, row.defocus_angstrom)
    write_star(table, "tomograms.star")        # atomic: temp file + rename

Files written by other IsoNet2 tools load unchanged: one (possibly anonymous) `data_` block
with a `loop_`, empty cells as `<NA>`, `None`, `nan` or `""` (pandas writes a missing value as
`nan`). We always write `None`. Columns we do not know are kept, in their order, and written
back; so are other blocks before or after the tomogram table (verbatim) and `#` comment lines
of its own block (just after its `data_` line): a command that updates the star loses nothing.

Refused with an InputError naming the file, row and column: a column listed twice, a number
that is infinite or beyond what any microscope gives, a row whose two half tomograms are the
same file, two rows with one rlnIndex, and (`read_star`) a table without rows.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isonet2.config.base import MAX_SUBTOMOS
from isonet2.errors import InputError
from isonet2.io.atomic import copy_atomic, publish, remove_leftover_temps, temp_beside

logger = logging.getLogger(__name__)

_EMPTY = {"<na>", "none", "nan", "", "null", "n/a"}


@dataclass
class TomogramRow:
    """One tomogram: its files and acquisition parameters (units in the names)."""

    index: int
    tomogram_path: str | None = None
    half1_path: str | None = None
    half2_path: str | None = None
    pixel_size_angstrom: float = 10.0
    defocus_angstrom: float = 0.0
    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.1
    deconv_path: str | None = None
    mask_boundary_path: str | None = None
    mask_path: str | None = None
    tilt_min_deg: float = -60.0
    tilt_max_deg: float = 60.0
    box_file: str | None = None
    number_subtomos: int = 100
    corrected_path: str | None = None
    denoised_path: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def has_halves(self) -> bool:
        """True when both the even and the odd half tomograms are listed."""
        return self.half1_path is not None and self.half2_path is not None

    def path_in_column(self, label: str) -> str | None:
        """The path held in a path column named by its rln label (e.g. rlnDeconvTomoName)."""
        attribute = path_column_attribute(label)
        return getattr(self, attribute) if attribute else self.extra.get(label)


# rln label -> (TomogramRow attribute, type); the order is the IsoNet2 column order.
COLUMNS: dict[str, tuple[str, type]] = {
    "rlnIndex": ("index", int),
    "rlnTomoName": ("tomogram_path", str),
    "rlnTomoReconstructedTomogramHalf1": ("half1_path", str),
    "rlnTomoReconstructedTomogramHalf2": ("half2_path", str),
    "rlnPixelSize": ("pixel_size_angstrom", float),
    "rlnDefocus": ("defocus_angstrom", float),
    "rlnVoltage": ("voltage_kv", float),
    "rlnSphericalAberration": ("cs_mm", float),
    "rlnAmplitudeContrast": ("amplitude_contrast", float),
    "rlnDeconvTomoName": ("deconv_path", str),
    "rlnMaskBoundary": ("mask_boundary_path", str),
    "rlnMaskName": ("mask_path", str),
    "rlnTiltMin": ("tilt_min_deg", float),
    "rlnTiltMax": ("tilt_max_deg", float),
    "rlnBoxFile": ("box_file", str),
    "rlnNumberSubtomo": ("number_subtomos", int),
    "rlnCorrectedTomoName": ("corrected_path", str),
    "rlnDenoisedTomoName": ("denoised_path", str),
}
_OPTIONAL_COLUMNS = {"rlnDenoisedTomoName"}  # written only when some row has a value
_REQUIRED_COLUMNS = {"rlnPixelSize"}
PATH_COLUMNS = [label for label, (_, kind) in COLUMNS.items() if kind is str]

# names a user may type for the tomogram columns (input_column flags)
TOMOGRAM_COLUMN = "rlnTomoName"
DECONV_COLUMN = "rlnDeconvTomoName"
HALF1_COLUMN = "rlnTomoReconstructedTomogramHalf1"
HALF2_COLUMN = "rlnTomoReconstructedTomogramHalf2"
CORRECTED_COLUMN = "rlnCorrectedTomoName"
DENOISED_COLUMN = "rlnDenoisedTomoName"
MASK_COLUMN = "rlnMaskName"


def path_column_attribute(label: str) -> str | None:
    """TomogramRow attribute of a known path column; None for an unknown label."""
    spec = COLUMNS.get(label)
    return spec[0] if spec and spec[1] is str else None


def check_path_column(label: str) -> str:
    """Return `label` if it names a path column, else raise an error listing the valid ones."""
    if path_column_attribute(label) is None:
        raise InputError(
            f"unknown star column '{label}'; tomogram columns are: {', '.join(PATH_COLUMNS)}"
        )
    return label


@dataclass
class StarTable:
    """The rows of a tomogram table plus the labels of columns isonet2 does not know."""

    rows: list[TomogramRow]
    extra_labels: list[str] = field(default_factory=list)
    block_name: str = ""
    before: list[str] = field(default_factory=list)  # other blocks' raw lines, kept as read
    after: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  # the table block's own comment lines

    def select(self, indices: list[int] | None, source: str = "--tomo_idx") -> list[TomogramRow]:
        """Rows whose rlnIndex is in `indices` (all for None); an unknown index is an error."""
        if indices is None:
            return list(self.rows)
        known = {row.index for row in self.rows}
        missing = [i for i in indices if i not in known]
        if missing:
            raise InputError(
                f"{source}: no star row has rlnIndex {missing[0]} (rows are "
                f"{', '.join(str(i) for i in sorted(known))})"
            )
        return [row for row in self.rows if row.index in indices]


_KIND_WORDS = {float: "number", int: "whole number"}  # what a cell should hold, in words


def _parse_value(text: str, kind: type, where: str) -> Any:
    if text.strip().lower() in _EMPTY:
        return None
    if kind is str:
        return text
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not a {_KIND_WORDS[kind]}") from None
    if math.isnan(number):  # "-nan" and the like: empty, as "nan" is
        return None
    if not math.isfinite(number):
        raise InputError(
            f"{where}: '{text}' is not a finite number; write the value, or None to leave the "
            "cell empty"
        )
    if kind is int:
        if not number.is_integer():
            raise InputError(f"{where}: '{text}' is not a {_KIND_WORDS[int]}")
        return int(number)
    return number


def _tokenise(line: str, where: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as error:
        raise InputError(f"{where}: cannot split the line ({error})") from None


@dataclass
class StarCells:
    """A star file's first table as text: block name, column labels, one list of cells a row;
    the file's other blocks (raw lines before and after the table's block) and the comment
    lines of the table's block, to be written back."""

    block_name: str
    labels: list[str]
    rows: list[list[str]]
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def read_star_cells(path: str | os.PathLike[str]) -> StarCells:
    """The cells of a star file's first loop exactly as written (no types, no checks)."""
    star_path = Path(path)
    try:
        text = star_path.read_text()
    except FileNotFoundError:
        raise InputError(
            f"{star_path}: no such star file; run isonet.py prepare_star first"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{star_path}: cannot read the star file ({error})") from None
    labels: list[str] = []
    records: list[list[str]] = []
    comments: list[str] = []
    block = ""
    in_loop = False
    lines = text.splitlines()
    block_start, block_end = 0, len(lines)  # the table's block: lines[block_start:block_end]
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("#"):
            comments.append(raw)
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            if records and _TABLE_LABELS & set(labels):
                block_end = number - 1  # the first block of tomogram rows is the table
                _refuse_a_second_table(star_path, lines, block_end)
                break
            block, labels, records, in_loop, comments = line[5:], [], [], False, []
            # blocks before it (without rows, or other rows: RELION's data_optics) are kept
            block_start = number - 1
        elif line == "loop_":
            in_loop = True
        elif line.startswith("_"):
            label = line.split()[0][1:]
            if label in labels:
                raise InputError(
                    f"{star_path}: column {label} appears twice (#{labels.index(label) + 1} and "
                    f"#{len(labels) + 1}); remove one"
                )
            labels.append(label)
        elif in_loop and labels:
            cells = _tokenise(line, f"{star_path}:{number}")
            if len(cells) != len(labels):
                raise InputError(
                    f"{star_path}:{number}: {len(cells)} values for {len(labels)} columns; "
                    "each row needs one value per column (None for empty)"
                )
            records.append(cells)
    if not labels:
        raise InputError(f"{star_path}: no loop_ with rln columns; is this a tomogram star file?")
    return StarCells(
        block_name=block,
        labels=labels,
        rows=records,
        before=lines[:block_start] if lines[block_start].strip().startswith("data_") else [],
        after=lines[block_end:],
        comments=comments,
    )


# a block whose loop has one of these columns holds tomogram rows
_TABLE_LABELS = frozenset({"rlnTomoName", "rlnTomoReconstructedTomogramHalf1", "rlnIndex"})


def _refuse_a_second_table(star_path: Path, lines: list[str], start: int) -> None:
    """InputError when lines[start:] hold another block of tomogram rows: only the first was
    read, the others were skipped without a word (two star files pasted into one)."""
    block, block_line = "", 0
    labels: set[str] = set()
    for number, raw in enumerate(lines[start:], start=start + 1):
        line = raw.strip()
        if line.startswith("data_"):
            block, labels, block_line = line, set(), number
        elif line.startswith("_"):
            labels.add(line.split()[0][1:])
        elif line and not line.startswith("#") and line != "loop_" and _TABLE_LABELS & labels:
            raise InputError(
                f"{star_path}:{block_line}: a second table of tomograms ({block}); isonet2 "
                "reads one per star file: merge the rows into the first table or split the file"
            )


def parse_cell(label: str, text: str, where: str) -> Any:
    """One cell's value as its column's type (None when empty); InputError names `where`."""
    if label not in COLUMNS:
        return text
    return _parse_value(text, COLUMNS[label][1], where)


def table_from_cells(cells: StarCells, source: str) -> StarTable:
    """Typed rows from a star's cells; unknown columns are kept as text."""
    labels = cells.labels
    for required in _REQUIRED_COLUMNS:
        if required not in labels:
            raise InputError(
                f"{source}: column {required} is missing; add it or rerun prepare_star"
            )
    rows: list[TomogramRow] = []
    for row_number, record in enumerate(cells.rows, start=1):
        values: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for label, cell in zip(labels, record, strict=True):
            if label in COLUMNS:
                where = f"{source}: row {row_number}, column {label}"
                value = parse_cell(label, cell, where)
                if value is not None:
                    values[COLUMNS[label][0]] = value
            else:
                extra[label] = cell
        values.setdefault("index", row_number)
        if "pixel_size_angstrom" not in values:
            raise InputError(f"{source}: row {row_number}, column rlnPixelSize is empty")
        row = TomogramRow(**values, extra=extra)
        check_physics(row, f"{source}: row {row_number}")
        _check_halves(row, f"{source}: row {row_number}")
        for earlier, other in enumerate(rows, start=1):
            if other.index == row.index:
                raise InputError(
                    f"{source}: rows {earlier} and {row_number} both have rlnIndex {row.index}; "
                    "give every row its own index"
                )
        rows.append(row)
    extra_labels = [label for label in labels if label not in COLUMNS]
    return StarTable(
        rows=rows,
        extra_labels=extra_labels,
        block_name=cells.block_name,
        before=cells.before,
        after=cells.after,
        comments=cells.comments,
    )


# Upper bounds no real microscope or tomogram reaches (the largest voltages are a few MV, Cs
# tens of mm, defocus tens of µm, binned pixels tens of Å); beyond them a value is a typo,
# and the CTF would overflow or underflow instead of saying which cell is wrong.
MAX_PIXEL_SIZE_ANGSTROM = 1000.0
MAX_DEFOCUS_ANGSTROM = 1e6  # 100 µm
MAX_VOLTAGE_KV = 3000.0
MAX_CS_MM = 100.0


MIN_DEFOCUS_ANGSTROM = 100.0  # below: a value in µm (real defocus runs 5,000-100,000 Å)


def defocus_in_microns(rows: list[TomogramRow]) -> str | None:
    """A warning when some rows' defocus lies between 0 and 100 Å: a value in µm, whose CTF
    would do nothing (its first zero lies far beyond Nyquist); None when every row is fine."""
    small = [row for row in rows if 0 < row.defocus_angstrom < MIN_DEFOCUS_ANGSTROM]
    if not small:
        return None
    row = small[0]
    return (
        f"rlnDefocus {row.defocus_angstrom:g} Å (row {row.index}"
        + (f" and {len(small) - 1} more" if len(small) > 1 else "")
        + f") looks like µm: rlnDefocus is in Å, {row.defocus_angstrom:g} µm = "
        f"{row.defocus_angstrom * 1e4:g} Å; at {row.defocus_angstrom:g} Å there is no CTF to "
        "correct"
    )


def check_physics(row: TomogramRow, where: str, fix: str = "fix the star file") -> None:
    """InputError naming `where` and the column when a row's acquisition values are impossible
    (each would otherwise fail later, deep in a filter, without saying which row). NaN fails
    every comparison below, so it is refused too."""
    checks = [
        (
            "rlnPixelSize",
            0 < row.pixel_size_angstrom <= MAX_PIXEL_SIZE_ANGSTROM,
            f"must be positive and <= {MAX_PIXEL_SIZE_ANGSTROM:g} (Å)",
        ),
        (
            "rlnDefocus",
            0 <= row.defocus_angstrom <= MAX_DEFOCUS_ANGSTROM,
            f"must be >= 0 and <= {MAX_DEFOCUS_ANGSTROM:g} (Å, underfocus positive, 0 = no CTF)",
        ),
        (
            "rlnVoltage",
            0 < row.voltage_kv <= MAX_VOLTAGE_KV,
            f"must be positive and <= {MAX_VOLTAGE_KV:g} (kV)",
        ),
        (
            "rlnSphericalAberration",
            0 <= row.cs_mm <= MAX_CS_MM,
            f"must be >= 0 and <= {MAX_CS_MM:g} (mm)",
        ),
        ("rlnAmplitudeContrast", 0 <= row.amplitude_contrast <= 1, "must lie in [0, 1]"),
        (
            "rlnNumberSubtomo",
            0 <= row.number_subtomos <= MAX_SUBTOMOS,
            f"must be >= 0 and at most {MAX_SUBTOMOS:,} subtomograms per tomogram",
        ),
    ]
    for label, valid, need in checks:
        if not valid:
            value = getattr(row, COLUMNS[label][0])
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise InputError(f"{where}, column {label}: {shown} {need}; {fix}")
    if not -90 <= row.tilt_min_deg <= row.tilt_max_deg <= 90:
        raise InputError(
            f"{where}, columns rlnTiltMin and rlnTiltMax: {row.tilt_min_deg:g}.."
            f"{row.tilt_max_deg:g} is not a tilt range; need -90 <= rlnTiltMin <= rlnTiltMax "
            "<= 90 (degrees)"
        )


def _check_halves(row: TomogramRow, where: str) -> None:
    """InputError when the even and odd halves are one file: noise2noise on them learns nothing."""
    if row.half1_path is None or row.half2_path is None:
        return
    if os.path.normpath(row.half1_path) == os.path.normpath(row.half2_path):
        raise InputError(
            f"{where}, columns {HALF1_COLUMN} and {HALF2_COLUMN}: both name "
            f"{row.half1_path}; the halves must be two different tomograms (from the even and "
            "the odd frames or tilts)"
        )


def missing_file(where: str, path: str | os.PathLike[str]) -> InputError:
    """The error for a file the star names that is not there, with the likeliest fix: a
    relative path is read from the folder isonet.py runs in, not from the star's folder."""
    if Path(path).is_absolute():
        hint = "fix the path in the star"
    else:
        hint = (
            f"paths in the star are read from the folder isonet.py runs in ({Path.cwd()}): "
            "run it from the project folder, or fix the path in the star"
        )
    return InputError(f"{where}: {path}: no such file; {hint}")


def read_star(path: str | os.PathLike[str]) -> StarTable:
    """Read a tomogram table; malformed content, or no rows, raises InputError naming file,
    row and column."""
    table = table_from_cells(read_star_cells(path), str(Path(path)))
    if not table.rows:
        raise InputError(
            f"{Path(path)}: the tomogram table has no rows; list tomograms with isonet.py "
            "prepare_star (or add rows under its loop_)"
        )
    return table


def _format(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(ch in "\n\r" for ch in text):
        raise InputError(f"{text!r} holds a line break, which a star file cannot store; rename it")
    if not text or any(ch.isspace() or ch in "'\"\\" for ch in text) or text[0] in "_#":
        # STAR quoting, which other readers (RELION, starfile) understand: a whole value in
        # single or in double quotes; shell quoting only where a value holds both kinds
        if "'" not in text:
            return f"'{text}'"
        if '"' not in text and "\\" not in text:
            return f'"{text}"'
        return shlex.quote(text)
    return text


def format_star(table: StarTable) -> str:
    """The STAR text of a table (aligned columns, `None` for empty cells)."""
    labels = [
        label
        for label in COLUMNS
        if label not in _OPTIONAL_COLUMNS
        or any(getattr(row, COLUMNS[label][0]) is not None for row in table.rows)
    ] + table.extra_labels
    grid = []
    for row in table.rows:
        cells = [
            _format(getattr(row, COLUMNS[label][0]))
            if label in COLUMNS
            else row.extra.get(label, "None")
            for label in labels
        ]
        grid.append(cells)
    widths = [max([len(r[i]) for r in grid], default=0) for i in range(len(labels))]
    header = [f"data_{table.block_name}", *table.comments, "", "loop_"]
    header += [f"_{label} #{i}" for i, label in enumerate(labels, start=1)]
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in grid]
    after = ["", *table.after] if table.after and table.after[0].strip() else table.after
    return "\n".join([*table.before, *header, *body, *after]) + "\n"


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file through a temp file in the same folder and an atomic rename."""
    target = Path(path)
    temp = temp_beside(target)
    try:
        with temp.open("w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        publish(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


STALE_STAR_TEMP_S = 60.0  # a star's temp lives milliseconds: one this old was left by a kill


def replace_star(table: StarTable, path: str | os.PathLike[str]) -> None:
    """Write a new star over `path` (prepare_star, simulate), keeping an existing file that
    differs as `path`.bak: rerunning prepare_star, as the tutorial does, replaced a star the
    user had edited (defocus) or commands had extended (deconv, mask, corrected columns)."""
    target = Path(path)
    if target.is_file() and target.read_text(errors="replace") != format_star(table):
        backup = target.with_name(target.name + ".bak")
        copy_atomic(target, backup)
        logger.warning("%s existed: replaced, the earlier file is kept as %s", target, backup)
    write_star(table, target)


def write_star(table: StarTable, path: str | os.PathLike[str]) -> None:
    """Write (or rewrite) a tomogram table atomically; temps of it a killed writer left go."""
    target = Path(path)
    remove_leftover_temps(target.parent, target.name.__eq__, STALE_STAR_TEMP_S)
    write_text_atomic(target, format_star(table))
