"""Files that appear whole or not at all: written as a temp file beside the target, then renamed.

Example:
    temp = temp_beside(target, ".pt.tmp")      # hidden, in the target's folder (same disk)
    try:
        write_everything_to(temp)
        publish(temp, target)                  # mode set, then an atomic rename
    except BaseException:
        temp.unlink(missing_ok=True)
        raise

Every file we write gets the same mode: an existing target's own, else 0o644 (what most tools
give a new file under the usual umask 022), so colleagues on a shared cluster can read a
checkpoint or a plot as they can a map. mkstemp alone would leave 0o600.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isonet2.errors import InputError

logger = logging.getLogger(__name__)

NEW_FILE_MODE = 0o644


def make_folder(path: str | os.PathLike[str], flag: str = "--output_dir") -> Path:
    """Folder `path`, made with its parents if missing.

    A file in the way, or a folder that cannot be made, is an InputError naming `flag` (the
    option that gave the path) rather than a traceback.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(
            f"{flag} {folder}: a file is in the way of this folder; choose another folder or "
            "move the file"
        ) from None
    except OSError as error:
        raise InputError(
            f"{flag} {folder}: cannot make this folder ({error.strerror}); choose a folder you "
            "can write to"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):  # read-only file system, or not ours
        raise InputError(
            f"{flag} {folder}: cannot write in this folder (read-only or no permission); "
            "choose a folder you can write to"
        )
    return folder


def temp_beside(target: Path, suffix: str = ".tmp") -> Path:
    """A new empty hidden file `.<name>.<random><suffix>` in target's folder (made if missing)."""
    make_folder(target.parent, f"the folder of {target.name},")
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    return Path(temp)


MAX_NAME_BYTES = 255  # a file name's limit on Linux file systems
# what temp_beside adds to a target's name: two dots, 8 random characters, a suffix such as
# ".mrc.tmp" (up to 14 characters here)
TEMP_NAME_EXTRA = 24


def name_fits_with_temp(target: Path) -> bool:
    """Whether `target`'s name and its temp file's (longer) fit a file name: an output whose
    temp cannot be opened fails only after the work that makes it."""
    return len(target.name.encode()) + TEMP_NAME_EXTRA <= MAX_NAME_BYTES


_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}(\.[a-z]+)*$")  # temp_beside's names


def remove_leftover_temps(
    folder: Path, owned: Callable[[str], bool], older_than_s: float = 0.0
) -> list[Path]:
    """Delete the temp files `temp_beside` left in `folder` for targets whose names `owned`
    accepts (a run killed with SIGKILL cannot remove its own); returns those deleted.

    Call it only where the caller owns those targets, e.g. a training run for its checkpoints:
    a temp of a target that another process is writing at that moment would go too; or give
    `older_than_s`, longer than any write of such a target takes (a star: milliseconds).
    """
    removed = []
    now = time.time()
    for entry in folder.iterdir() if folder.is_dir() else []:
        match = _TEMP_NAME.match(entry.name)
        if not (match and owned(match["target"])):
            continue
        try:
            age_s = now - entry.stat().st_mtime
        except FileNotFoundError:  # its writer renamed or removed it just now
            continue
        if entry.is_file() and (older_than_s <= 0 or age_s > older_than_s):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    if removed:
        logger.info("removed temp files an interrupted run left: %s", ", ".join(map(str, removed)))
    return removed


def copy_atomic(source: Path, target: Path) -> None:
    """Copy `source` to `target` through a temp file beside it and a rename."""
    temp = temp_beside(target, target.suffix + ".tmp")
    try:
        shutil.copyfile(source, temp)
        publish(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def publish(temp: Path, target: Path) -> None:
    """Give `temp` target's mode (0o644 for a new file) and rename it onto `target`.

    A folder at `target`, or a target that may not be replaced, is an InputError; the caller
    removes `temp` as it does for any failure.
    """
    if target.is_dir():
        raise InputError(f"{target} is a folder; give a file name instead")
    os.chmod(temp, target.stat().st_mode & 0o777 if target.exists() else NEW_FILE_MODE)
    try:
        os.replace(temp, target)
    except PermissionError as error:
        raise InputError(
            f"{target}: cannot replace it ({error.strerror}); make it writable or write elsewhere"
        ) from None
