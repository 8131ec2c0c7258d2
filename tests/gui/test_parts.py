"""The GUI's pure parts: paths kept inside the project, events, PNG slices, run records."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from isonet2.gui.api import utf8_end
from isonet2.gui.events import JobEvents
from isonet2.gui.project import (
    OutsideProject,
    external_runs,
    inside,
    star_files,
    volume_files,
    walk,
)
from isonet2.gui.starjson import StarCells, check_cells
from isonet2.gui.volumes import contrast_range, encode_png, slice_png, take_slice


def test_inside_keeps_paths_in_the_project(tmp_path: Path) -> None:
    root = (tmp_path / "p").resolve()
    (root / "a").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (root / "up").symlink_to(tmp_path / "out")
    (root / "ok").symlink_to(root / "a")
    assert inside(root, "a/x.star") == root / "a" / "x.star"
    assert inside(root, str(root / "a")) == root / "a"
    assert inside(root, "ok/x") == root / "a" / "x"
    for bad in ("../out", "/etc/passwd", "up/x", "a/../../out", "", "a\x00b"):
        with pytest.raises(OutsideProject):
            inside(root, bad)
    assert [p.name for p in walk(root, 3)] == []  # the symlink out is not followed


def test_listings_skip_hidden_and_deep_folders(tmp_path: Path) -> None:
    for rel in ("t.star", "a/b/c/deep.star", "a/b/c/d/too_deep.star", ".isonet_gui/x.star"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert star_files(tmp_path) == ["a/b/c/deep.star", "t.star"]


def write_events(path: Path, *events: dict) -> None:
    with path.open("a") as stream:
        for event in events:
            stream.write(json.dumps(event) + "\n")


def test_job_events_keep_the_latest_per_task_and_the_pictures(tmp_path: Path) -> None:
    job = tmp_path / "refine" / "job1"
    job.mkdir(parents=True)
    seen = JobEvents(job / "events.jsonl", tmp_path)
    seen.refresh()
    assert seen.progress() == [] and seen.pictures() == []
    bar = {"event": "progress", "unit": "batch", "postfix": "", "closed": False, "total": 4}
    write_events(
        job / "events.jsonl",
        *({**bar, "task": f"epoch {i}/5", "done": 4, "closed": True} for i in range(1, 5)),
        {**bar, "task": "epoch 5/5", "done": 1},
        {"event": "picture", "path": str(job / "preview" / "a_epoch1.png"), "name": "a"},
        {"event": "picture", "path": "/elsewhere/b.png", "name": "b"},
    )
    with (job / "events.jsonl").open("a") as stream:
        stream.write('{"event": "progress", "task": "epoch 5/5", "do')  # torn: still being written
    seen.refresh()
    assert [p["task"] for p in seen.progress()] == ["epoch 3/5", "epoch 4/5", "epoch 5/5"]
    assert seen.progress()[-1] == {
        "task": "epoch 5/5",
        "done": 1,
        "total": 4,
        "unit": "batch",
        "postfix": "",
        "closed": False,
    }
    with (job / "events.jsonl").open("a") as stream:
        stream.write('ne": 3, "total": 4}\n')
    (job / "loss_full.png").write_bytes(b"")
    seen.refresh()
    assert seen.progress()[-1]["done"] == 3
    assert seen.pictures() == ["refine/job1/preview/a_epoch1.png", "refine/job1/loss_full.png"]


def test_slices_have_the_planes_shape_and_contrast() -> None:
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    assert take_slice(volume, "z", 1).shape == (5, 6)
    assert take_slice(volume, "y", 2).shape == (4, 6)
    assert take_slice(volume, "x", 5).shape == (4, 5)
    with pytest.raises(IndexError):
        take_slice(volume, "x", 6)
    png = slice_png(volume, "y", 0, lo=0.0, hi=float(volume.max()))
    image = np.asarray(Image.open(io.BytesIO(png)))
    assert image.shape == (4, 6) and image.dtype == np.uint8
    assert image[0, 0] == 0 and image[-1, -1] == round(volume[3, 0, 5] / volume.max() * 255)
    lo, hi = contrast_range(volume)
    assert volume.min() <= lo < hi <= volume.max()
    # a constant volume (an empty mask) had lo == hi, which /api/slice.png refuses
    assert contrast_range(np.zeros((4, 5, 6), np.float32)) == (0.0, 1.0)
    flat = encode_png(np.full((3, 2), 7, dtype=np.uint8))
    assert np.asarray(Image.open(io.BytesIO(flat))).tolist() == [[7, 7]] * 3


def test_utf8_is_not_cut_mid_character() -> None:
    text = "µm≈".encode()
    assert [utf8_end(text[:n]) for n in range(len(text) + 1)] == [0, 0, 2, 3, 3, 3, 6]


def test_run_records_outside_job_folders_are_external(tmp_path: Path) -> None:
    def record(rel: str, command: str, argv: list[str], time: str) -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"command": command, "argv": argv, "time": time, "parameters": {"epochs": 2}}
        path.write_text(json.dumps(body))

    record(
        "01_test/refine_config.json",
        "refine",
        ["isonet.py", "refine", "-o", "01_test"],
        "2026-01-02T00:00:00+00:00",
    )
    record(
        "tomograms.prepare_star.json",
        "prepare_star",
        ["x", "prepare_star", "t"],
        "2026-01-01T00:00:00+00:00",
    )
    record("refine/job4/refine_config.json", "refine", ["x", "refine"], "2026-01-03T00:00:00+00:00")
    (tmp_path / "broken_config.json").write_text("{not json")
    runs = external_runs(tmp_path, set())
    assert [(r.folder, r.command) for r in runs] == [("01_test", "refine"), (".", "prepare_star")]
    assert runs[0].id.startswith("cli-") and runs[0].id == external_runs(tmp_path, set())[0].id
    assert [r.command for r in external_runs(tmp_path, {("prepare_star", "t")})] == ["refine"]


def test_inside_refuses_a_sibling_that_shares_the_projects_name_prefix(tmp_path: Path) -> None:
    root = (tmp_path / "p").resolve()
    root.mkdir()
    (tmp_path / "p_private").mkdir()
    (tmp_path / "p_private" / "secret.star").write_text("data_\n")
    assert inside(root, ".") == root  # the project folder itself is inside
    for bad in ("../p_private/secret.star", str(tmp_path / "p_private" / "secret.star"), ".."):
        with pytest.raises(OutsideProject):
            inside(root, bad)


def test_a_symlinked_folder_out_of_the_project_is_never_walked(tmp_path: Path) -> None:
    root = (tmp_path / "p").resolve()
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "map.mrc").write_bytes(b"")
    record = {"command": "refine", "argv": ["isonet.py", "refine"], "parameters": {}}
    (outside / "refine_config.json").write_text(json.dumps(record))
    (root / "linked").symlink_to(outside)
    assert list(walk(root, 3)) == []
    assert volume_files(root) == []
    assert external_runs(root, set()) == []  # a record outside is not the project's run


def test_listings_leave_out_symlinked_files_leading_out_and_hidden_folders(tmp_path: Path) -> None:
    root = (tmp_path / "p").resolve()
    (root / ".hidden").mkdir(parents=True)
    (root / ".hidden" / "h.mrc").write_bytes(b"")
    (root / "own.mrc").write_bytes(b"")
    (tmp_path / "elsewhere.mrc").write_bytes(b"")
    (root / "innocent_name.mrc").symlink_to(tmp_path / "elsewhere.mrc")
    assert volume_files(root) == ["own.mrc"]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\tb", "a\x00b"])
def test_a_star_cell_with_a_control_character_is_refused(bad: str) -> None:
    """A line break would end the row on disk; a tab or NUL splits or corrupts the cell."""
    cells = StarCells(block_name="", labels=["rlnMicrographName"], rows=[["ok.mrc"], [bad]])
    errors = check_cells(cells)
    assert list(errors) == ["1:rlnMicrographName"]
    assert "control character" in errors["1:rlnMicrographName"]
