"""The one exception type for mistakes a user can make and fix.

Example:
    raise InputError("tomograms.star: column rlnDefocus, row 3: 'abc' is not a number")

The command line prints the message as one line and exits non-zero. So does an OSError
(a full disk, a read-only folder, a file that vanished): the machine's state, not a bug, and
`os_error_line` names the path and the reason. Anything else that escapes is a bug in isonet2
and keeps its traceback.
"""

import errno

_OS_ERROR_HINTS = {
    errno.ENOSPC: "free space there or choose another output folder",
    errno.EDQUOT: "your disk quota is used up; free space or choose another output folder",
    errno.EROFS: "the file system is read-only; choose a folder you can write to",
    errno.EACCES: "choose a folder you can write to, or change the file's permissions",
    errno.EPERM: "choose a folder you can write to, or change the file's permissions",
    errno.EISDIR: "that is a folder; give a file name",
    errno.ENOENT: "check the path (was it moved or deleted while the command ran?)",
}


class InputError(Exception):
    """Bad input: the message names the file, column or flag and says how to fix it."""


class UsageError(InputError):
    """A bad command line (unknown flag, unparsable value); exit code 2."""


def os_error_line(error: OSError) -> str:
    """One line for an OSError: the path(s) it names, the system's reason and what to do."""
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    reason = error.strerror or str(error) or type(error).__name__
    hint = _OS_ERROR_HINTS.get(error.errno or 0, "check the path and the disk, then run again")
    where = " -> ".join(paths)
    return f"{where + ': ' if where else ''}{reason}; {hint}"


def memory_error_line(error: MemoryError) -> str:
    """One line for a MemoryError (e.g. simulate --shape 100000,100000,100000)."""
    detail = f" ({error})" if str(error) else ""
    return f"out of host memory{detail}; give smaller sizes or run on a machine with more memory"
