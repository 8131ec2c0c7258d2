"""The training loss plot (loss_full.png): total, n2n-band and missing-wedge-band curves.

Example:
    plot_losses(history, Path("01_test/loss_full.png"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from isonet2.io.figures import save_figure


def plot_losses(history: Sequence[dict[str, float]], path: Path) -> None:
    """Write the per-epoch loss curves atomically (temp file + rename)."""
    epochs = [int(h["epoch"]) for h in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(epochs, [h["loss"] for h in history], "o-", label="total")
    axes[0].set_title("training loss")
    axes[1].plot(epochs, [h["n2n_loss"] for h in history], "o-", label="n2n band")
    axes[1].plot(epochs, [h["mw_loss"] for h in history], "s-", label="missing-wedge band")
    axes[1].set_title("band losses")
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.set_yscale("log" if all(h["loss"] > 0 for h in history) else "linear")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path, dpi=100)
