"""Every file we write atomically gets one mode: the target's own, else 0o644 (not 0o600);
output folders are made, or refused in one line."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from isonet2.errors import InputError
from isonet2.io.atomic import copy_atomic, make_folder, publish, remove_leftover_temps, temp_beside
from isonet2.io.checkpoint import save_checkpoint
from isonet2.io.figures import save_figure
from isonet2.io.mrc import write_volume
from isonet2.io.star import write_text_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_publish_gives_a_new_file_0o644_and_keeps_an_existing_targets_mode(
    tmp_path: Path,
) -> None:
    target = tmp_path / "sub" / "out.txt"
    temp = temp_beside(target)
    assert temp.parent == target.parent and temp.name.startswith(".out.txt.")
    assert mode(temp) == 0o600  # what mkstemp gives
    temp.write_text("one")
    publish(temp, target)
    assert mode(target) == 0o644 and target.read_text() == "one"
    target.chmod(0o640)
    temp = temp_beside(target)
    temp.write_text("two")
    publish(temp, target)
    assert mode(target) == 0o640 and target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_checkpoints_figures_maps_and_text_are_all_0o644(tmp_path: Path) -> None:
    save_checkpoint(
        tmp_path / "net.pt",
        model_state={"w": torch.zeros(2)},
        arch="unet-small",
        arch_kwargs={},
        cube_size=32,
        method="n2n",
        physics={},
        normalisation={},
        config={},
        epoch=1,
    )
    save_figure(Figure(), tmp_path / "plot.png")
    write_volume(tmp_path / "map.mrc", np.zeros((2, 2, 2), np.float32))
    write_text_atomic(tmp_path / "notes.json", "{}")
    written = sorted(tmp_path.iterdir())
    assert [p.name for p in written] == ["map.mrc", "net.pt", "notes.json", "plot.png"]
    assert {p.name: mode(p) for p in written} == dict.fromkeys(
        ["map.mrc", "net.pt", "notes.json", "plot.png"], 0o644
    )


def test_make_folder_makes_parents_and_accepts_an_existing_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a" / "b")
    assert folder.is_dir() and make_folder(str(folder)) == folder


@pytest.mark.parametrize("inside", ["", "sub"])
def test_a_file_in_the_way_of_a_folder_is_one_line_naming_the_flag(
    tmp_path: Path, inside: str
) -> None:
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / inside
    with pytest.raises(InputError, match=r"^--mask_folder .*afile.*: a file is in the way"):
        make_folder(target, "--mask_folder")


def test_a_folder_we_cannot_write_in_is_one_line_naming_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a read-only file system (or another user's folder); root ignores mode bits, so the
    # answer of os.access is what the check reads
    monkeypatch.setattr("isonet2.io.atomic.os.access", lambda path, mode: False)
    with pytest.raises(InputError, match=r"^-o .*locked: cannot write in this folder"):
        make_folder(tmp_path / "locked", "-o")


def test_publishing_onto_a_folder_or_a_protected_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sim").mkdir()
    temp = temp_beside(tmp_path / "sim")
    with pytest.raises(InputError, match=r"sim is a folder; give a file name"):
        publish(temp, tmp_path / "sim")
    target = tmp_path / "t.star"
    target.write_text("old")

    def refuse(source: object, destination: object) -> None:
        raise PermissionError(1, "Operation not permitted", str(source), None, str(destination))

    monkeypatch.setattr("isonet2.io.atomic.os.replace", refuse)
    with pytest.raises(InputError, match=r"t.star: cannot replace it \(Operation not permitted\)"):
        publish(temp, target)
    assert target.read_text() == "old"


def test_leftover_temps_of_owned_targets_are_removed_and_nothing_else(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves its hidden temp files; the next run removes its own."""
    kept = [tmp_path / name for name in ("net.pt", ".hidden", ".net.pt.notes", "other.txt")]
    for path in kept:
        path.write_text("x")
    temps = [
        temp_beside(tmp_path / "net.pt", ".pt.tmp"),
        temp_beside(tmp_path / "loss.png", ".png"),
        temp_beside(tmp_path / "t_map.mrc", ".mrc.tmp"),
        temp_beside(tmp_path / "tomograms.star"),
    ]
    owned = {"net.pt", "loss.png", "t_map.mrc"}
    removed = remove_leftover_temps(tmp_path, owned.__contains__)
    assert sorted(removed) == sorted(temps[:3])
    assert sorted(tmp_path.iterdir()) == sorted([*kept, temps[3]])
    assert remove_leftover_temps(tmp_path / "absent", owned.__contains__) == []


def test_a_failed_copy_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "copy.pt"
    with pytest.raises(FileNotFoundError):
        copy_atomic(tmp_path / "missing.pt", target)
    assert list(target.parent.iterdir()) == []
