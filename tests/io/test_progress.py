"""Progress events: structured JSON lines beside the terminal bar, only when asked for."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from isonet2.io.figures import save_figure
from isonet2.io.progress import EVENTS_ENV, counted, emit_event, progress_bar


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_iterating_a_bar_reports_start_and_final_count(tmp_path, monkeypatch):
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    items = list(progress_bar(range(7), desc="deconv", unit="tomo"))
    assert items == list(range(7))
    progress = [e for e in _events(events) if e["event"] == "progress"]
    assert progress[0]["done"] == 0 and progress[0]["total"] == 7
    assert progress[-1]["done"] == 7 and progress[-1]["task"] == "deconv"
    assert progress[-1]["unit"] == "tomo" and progress[-1]["closed"] is True


def test_iterating_reports_the_count_so_far_between_redraws(tmp_path, monkeypatch):
    # tqdm itself updates bar.n only when it redraws; the events must not wait for that
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    monkeypatch.setattr("isonet2.io.progress.MIN_EVENT_INTERVAL_S", 0.0)
    for _ in progress_bar(range(5), desc="epoch 1/1", unit="batch", mininterval=60):
        pass
    done = [e["done"] for e in _events(events) if e["event"] == "progress"]
    assert done == [0, 0, 1, 2, 3, 4, 5]


def test_manual_updates_are_throttled_but_the_close_is_always_reported(tmp_path, monkeypatch):
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    with progress_bar(total=1000, desc="predict", unit="tile") as bar:
        for _ in range(1000):
            bar.update(1)
        bar.set_postfix(loss="0.5", refresh=False)
    progress = [e for e in _events(events) if e["event"] == "progress"]
    assert len(progress) < 10  # at most one per second, plus start and close
    assert progress[-1]["done"] == 1000 and progress[-1]["closed"] is True
    assert "loss=0.5" in progress[-1]["postfix"]


def test_nothing_is_written_without_the_variable_or_on_a_disabled_bar(tmp_path, monkeypatch):
    monkeypatch.delenv(EVENTS_ENV, raising=False)
    list(progress_bar(range(3), desc="quiet"))
    emit_event("file", path="x")
    assert list(tmp_path.iterdir()) == []
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    list(progress_bar(range(3), desc="other rank", disable=True))
    assert not events.exists()


def test_an_unwritable_events_file_never_stops_the_work(tmp_path, monkeypatch):
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "missing-folder" / "events.jsonl"))
    assert sum(progress_bar(range(4), desc="still works")) == 6


def test_saving_a_picture_announces_it(tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    target = save_figure(figure, tmp_path / "loss_full.png")
    (picture,) = [e for e in _events(events) if e["event"] == "picture"]
    assert Path(picture["path"]) == target.resolve() and picture["name"] == "loss_full.png"


def test_counted_puts_the_noun_in_the_right_number():
    assert [counted(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]


def test_a_bar_into_a_file_redraws_seldom_and_on_a_terminal_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`refine ... >> 01_test/log.txt 2>&1` (the tutorial) kept ten redraws a second."""
    import isonet2.io.progress as progress

    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: False)
    with progress.progress_bar(range(3), desc="x", file=io.StringIO()) as bar:
        assert bar.mininterval == progress.NON_TERMINAL_INTERVAL_S == 30.0
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    with progress.progress_bar(range(3), desc="x", file=io.StringIO()) as bar:
        assert bar.mininterval == 0.1  # tqdm's own
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: False)
    with progress.progress_bar(range(3), desc="x", file=io.StringIO(), mininterval=1) as bar:
        assert bar.mininterval == 1  # a caller's own choice stands
