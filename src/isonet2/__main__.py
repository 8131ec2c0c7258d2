"""`python -m isonet2 ...`: the same as `isonet.py ...`."""

from isonet2.console import main

main()
