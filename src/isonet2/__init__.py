"""isonet2: missing-wedge correction, denoising and CTF correction for cryo-electron tomograms.

Example (command line, or the same from Python through `isonet2.api`):
    isonet.py prepare_star -e tomograms/EVN -o tomograms/ODD --pixel_size 5.4

    from isonet2 import api
    api.prepare_star(even="tomograms/EVN", odd="tomograms/ODD", pixel_size=5.4)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("isonet2")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
