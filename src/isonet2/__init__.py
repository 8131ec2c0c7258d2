"""isonet2: missing-wedge correction, denoising and CTF correction for cryo-electron tomograms.

Example:
    isonet.py prepare_star -e tomograms/EVN -o tomograms/ODD --pixel_size 5.4
"""

import os
import signal
from importlib.metadata import PackageNotFoundError, version

# A data-parallel worker being spawned (train/distributed.py sets this for its children)
# ignores Ctrl-C until its stop handlers are in place: the launcher above it handles Ctrl-C
# and stops it, whereas a KeyboardInterrupt while it imports torch printed a traceback.
WORKER_STARTING_ENV = "ISONET2_WORKER_STARTING"
if os.environ.get(WORKER_STARTING_ENV) == "1":
    signal.signal(signal.SIGINT, signal.SIG_IGN)

try:
    __version__ = version("isonet2")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
