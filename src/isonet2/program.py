"""The program's names, as messages give them: light enough for start-up (console) and the GUI.

Example:
    prog_name(sys.argv[0])   # "isonet2" when typed so, else "isonet.py"
"""

import os

PROG = "isonet.py"
PROG_NAMES = (PROG, "isonet2")  # the two console scripts of pyproject.toml


def prog_name(argv0: str) -> str:
    """The name messages give the program: the console script the user typed, else isonet.py
    (`python -m isonet2` runs as __main__.py, which users know as isonet.py)."""
    name = os.path.basename(argv0)
    return name if name in PROG_NAMES else PROG
