"""Run one line of the tutorial, as typed, in this process: the pipeline tests' shared helper.

Example:
    assert isonet("isonet.py refine tomograms.star -o 01_test --epochs 1") == 0
"""

from __future__ import annotations

import shlex

from isonet2.cli import run


def isonet(line: str) -> int:
    """The exit code of `line`, which must start with the tutorial's `isonet.py`."""
    words = shlex.split(line)
    assert words[0] == "isonet.py"
    return run(words[1:])
