"""`python -m isonet2 ...`: the same as `isonet.py ...`."""

from isonet2.cli import main

main()
