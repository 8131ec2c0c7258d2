"""Coordinate files (rlnBoxFile, prepare_star --coordinate_folder): subtomogram centres.

Example:
    for number, (x, y, z) in read_coordinates(Path("coords/t1.txt")):
        ...

One `x y z` line (pixels of the tomogram) per centre; blank lines and lines starting with '#'
are skipped; columns after the third are ignored. Refused with an InputError naming the file
(and line): bytes that are not text, a line without three numbers, a value that is not finite,
a file without coordinates.
"""

import math
from pathlib import Path

from isonet2.errors import InputError


def read_coordinates(path: Path) -> list[tuple[int, tuple[float, float, float]]]:
    """(line number, (x, y, z)) of every coordinate line of `path`, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not a text file of 'x y z' coordinates (it holds bytes that are not "
            "UTF-8 text); is it a coordinate file?"
        ) from None
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        cells = line.split()
        if not cells or cells[0].startswith("#"):
            continue
        try:
            x, y, z = (float(cell) for cell in cells[:3])
        except ValueError:
            raise InputError(
                f"{path}:{number}: expected 'x y z' coordinates, found {line.strip()!r}"
            ) from None
        if not all(math.isfinite(value) for value in (x, y, z)):
            raise InputError(
                f"{path}:{number}: {line.strip()!r} is not three finite coordinates (pixels)"
            )
        points.append((number, (x, y, z)))
    if not points:
        raise InputError(f"{path}: no coordinates; write one 'x y z' line per subtomogram")
    return points
