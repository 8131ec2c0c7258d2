"""Matplotlib figures written as PNG files atomically (temp file + rename), then closed.

Example:
    figure, axis = plt.subplots()
    axis.plot(x, y)
    save_figure(figure, Path("01_test/loss_full.png"))

Each written picture is also announced as a "picture" event (see `isonet2.io.progress`), which
is how the GUI learns of new loss plots and preview slices while a job runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from isonet2.io.atomic import publish, temp_beside
from isonet2.io.progress import emit_event


def save_figure(figure: Any, path: Path, dpi: int = 100) -> Path:
    """Save `figure` (a matplotlib Figure) to `path` atomically and close it; returns `path`."""
    import matplotlib.pyplot as plt  # the caller chose the backend when it made the figure

    temp = temp_beside(path, ".png")  # savefig takes the format from the name
    try:
        figure.savefig(temp, dpi=dpi)
        publish(temp, path)
    finally:
        plt.close(figure)
        temp.unlink(missing_ok=True)
    emit_event("picture", path=str(path.resolve()), name=path.name)
    return path
