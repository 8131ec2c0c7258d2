"""loss_full.png: what is drawn, and how the axes read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure

import isonet2.train.plots as plots


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures plot_losses hands to save_figure (also written, to check it still works)."""
    figures: list[Figure] = []
    real = plots.save_figure

    def keep(figure: Figure, path: Path, **kwargs: Any) -> None:
        figures.append(figure)
        real(figure, path, **kwargs)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def history(epochs: int, mw: float) -> list[dict[str, float]]:
    return [
        {"epoch": e, "loss": 1 / e + 0.3, "n2n_loss": 0.5 / e + 0.2, "mw_loss": mw / e}
        for e in range(1, epochs + 1)
    ]


def test_denoise_names_the_band_it_has_not_instead_of_an_empty_legend_entry(
    drawn: list[Figure], tmp_path: Path
) -> None:
    """A missing-wedge band of 0 on a log axis: listed in the legend, never drawn."""
    plots.plot_losses(history(3, 0.0), tmp_path / "loss.png")
    bands = drawn[0].axes[1]
    assert [line.get_label() for line in bands.get_lines()] == ["n2n band"]
    assert bands.get_title() == "band losses (no missing-wedge band)"
    assert bands.get_yscale() == "log" and (tmp_path / "loss.png").stat().st_size > 0


def test_epoch_ticks_are_whole_numbers_and_log_labels_plain(
    drawn: list[Figure], tmp_path: Path
) -> None:
    """One epoch was ticked 0.945 ... 1.05; log labels read 2×10⁻¹."""
    plots.plot_losses(history(1, 0.01), tmp_path / "one.png")
    total, bands = drawn[0].axes
    assert list(total.get_xticks()) == [1.0]
    assert [line.get_label() for line in bands.get_lines()] == ["n2n band", "missing-wedge band"]
    plots.plot_losses(history(40, 0.01), tmp_path / "many.png")
    ticks = drawn[1].axes[1].get_xticks()
    assert all(float(t).is_integer() for t in ticks)
    drawn[1].canvas.draw()
    labels = [t.get_text() for t in drawn[1].axes[1].get_yticklabels() if t.get_text()]
    assert labels and all("×" not in text and "e-" not in text for text in labels), labels
    assert "0.01" in labels


def test_log_labels_stay_plain_below_one_ten_thousandth(
    drawn: list[Figure], tmp_path: Path
) -> None:
    """`:g` wrote 1e-05 for a tick at 10⁻⁵ (seen with matplotlib 3.7 at the pyproject floor)."""
    plots.plot_losses(history(40, 1e-4), tmp_path / "small.png")
    drawn[0].canvas.draw()
    labels = [t.get_text() for t in drawn[0].axes[1].get_yticklabels() if t.get_text()]
    assert "0.00001" in labels and all("e" not in text for text in labels), labels
