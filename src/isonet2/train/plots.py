"""The training loss plot (loss_full.png): total, n2n-band and missing-wedge-band curves.

Example:
    plot_losses(history, Path("01_test/loss_full.png"))
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import LogFormatterSciNotation, MaxNLocator

from isonet2.io.figures import save_figure


def plot_losses(history: Sequence[dict[str, float]], path: Path) -> None:
    """Write the per-epoch loss curves atomically (temp file + rename). A band whose loss is 0
    in every epoch (denoise has no missing-wedge band) is named in the title, not drawn."""
    epochs = [int(h["epoch"]) for h in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    total = [h["loss"] for h in history]
    axes[0].plot(epochs, total, "o-", label="total")
    axes[0].set_title("training loss")
    bands = {
        "n2n band": ([h["n2n_loss"] for h in history], "o-"),
        "missing-wedge band": ([h["mw_loss"] for h in history], "s-"),
    }
    drawn = {name: band for name, band in bands.items() if any(v != 0 for v in band[0])}
    for name, (values, style) in drawn.items():
        axes[1].plot(epochs, values, style, label=name)
    absent = [name for name in bands if name not in drawn]
    axes[1].set_title("band losses" + (f" (no {' or '.join(absent)})" if absent else ""))
    _style(axes[0], total, epochs)
    _style(axes[1], [v for values, _ in drawn.values() for v in values], epochs)
    figure.tight_layout()
    save_figure(figure, path, dpi=100)


class _PlainLog(LogFormatterSciNotation):
    """matplotlib's choice of which log ticks to label, written as plain numbers: 0.00001, not
    1e-05 (what `:g` writes below 1e-4; matplotlib 3.7 labels such a tick beyond the data)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return format(Decimal(f"{x:.3g}"), "f") if super().__call__(x, pos) else ""


def _style(axis: Axes, values: list[float], epochs: list[int]) -> None:
    """Whole-number epoch ticks (each epoch's own for short runs; one epoch showed 0.945 to
    1.05); a log loss axis where every value is positive, labelled 0.2, not 2×10⁻¹."""
    axis.set_xlabel("epoch")
    if len(epochs) <= 10:
        axis.set_xticks(epochs)
        axis.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if values and all(v > 0 for v in values):
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(_PlainLog())
        axis.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False))
    if axis.get_legend_handles_labels()[0]:
        axis.legend()
    axis.grid(alpha=0.3)
