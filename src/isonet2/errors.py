"""The one exception type for mistakes a user can make and fix.

Example:
    raise InputError("tomograms.star: column rlnDefocus, row 3: 'abc' is not a number")

The command line prints the message as one line and exits non-zero; anything else that
escapes is a bug in isonet2 and keeps its traceback.
"""


class InputError(Exception):
    """Bad input: the message names the file, column or flag and says how to fix it."""


class UsageError(InputError):
    """A bad command line (unknown flag, unparsable value); exit code 2."""
