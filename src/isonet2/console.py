"""The console scripts `isonet.py` and `isonet2` (and `python -m isonet2`): start-up, then cli.

Importing the command line (config models, pydantic) takes about 0.1 s; a Ctrl-C in that time
used to print a traceback, since cli's handlers were not yet installed. This module imports
nothing heavy itself, so an interrupt during that import ends as one in a running command does:
one line and exit code 130. (A Ctrl-C within the interpreter's own start-up, before this module
runs, still belongs to Python.)
"""

import sys

from isonet2.program import prog_name


def main() -> None:
    """Console-script entry point: cli.main, with Ctrl-C during its import handled."""
    try:
        from isonet2.cli import main as cli_main
    except KeyboardInterrupt:
        print(f"{prog_name(sys.argv[0])}: interrupted", file=sys.stderr)
        sys.exit(130)  # 128 + SIGINT, as cli ends an interrupted command
    cli_main()
