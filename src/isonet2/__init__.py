"""isonet2: missing-wedge correction, denoising and CTF correction for cryo-electron tomograms.

Example (command line, or the same from Python through `isonet2.api`):
    isonet.py prepare_star -e tomograms/EVN -o tomograms/ODD --pixel_size 5.4

    from isonet2 import api
    api.prepare_star(even="tomograms/EVN", odd="tomograms/ODD", pixel_size=5.4)
"""


def __getattr__(name: str) -> str:
    """`isonet2.__version__`, looked up on first use: importlib.metadata takes about 30 ms,
    which the console scripts' start-up (isonet2.console) does not spend before it can handle
    Ctrl-C."""
    if name != "__version__":
        raise AttributeError(f"module 'isonet2' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("isonet2")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
