"""Input mistakes found by fuzzing that once passed with exit 0: flat 2D images given as
tomograms, acquisition values the star reader refuses, a defocus typed in µm, empty maps."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from isonet2.cli import run
from isonet2.io.star import read_star, write_star


@pytest.fixture
def flat_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_mrc: Callable[..., Path]
) -> Path:
    """cwd = a star of one good tomogram whose every path column then points at a 2D image."""
    monkeypatch.chdir(tmp_path)
    make_mrc(tmp_path / "tomograms" / "t.mrc", shape=(20, 32, 32), voxel_size=10.0)
    assert run(["prepare_star", "tomograms", "--defocus", "30000"]) == 0
    make_mrc(tmp_path / "image.mrc", shape=(1, 32, 32), voxel_size=10.0)
    table = read_star("tomograms.star")
    row = table.rows[0]
    row.tomogram_path = row.deconv_path = row.half1_path = "image.mrc"
    row.half2_path = "image2.mrc"
    make_mrc(tmp_path / "image2.mrc", shape=(1, 32, 32), voxel_size=10.0, seed=1)
    write_star(table, "tomograms.star")
    return tmp_path


@pytest.mark.parametrize(
    "words",
    [
        ["deconv", "tomograms.star"],
        ["make_mask", "tomograms.star"],
        ["predict", "tomograms.star", "model.pt", "--input_column", "rlnTomoName"],
        ["predict", "tomograms.star", "model.pt"],
    ],
)
def test_a_2d_image_is_no_tomogram(
    flat_project: Path,
    one_epoch_checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
) -> None:
    """deconv, make_mask and predict wrote a (1, 32, 32) "result" with exit 0."""
    (flat_project / "model.pt").symlink_to(one_epoch_checkpoint)
    capsys.readouterr()
    assert run(words) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "image.mrc: shape (1, 32, 32) (z, y, x) is a 2D image" in errors[0]
    assert not list(flat_project.glob("*/*image*"))


def test_prepare_star_refuses_what_every_later_command_would(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_mrc: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pixel size of 1001 Å was written with exit 0, then refused by every command."""
    monkeypatch.chdir(tmp_path)
    make_mrc(tmp_path / "tomograms" / "t.mrc", shape=(20, 32, 32), voxel_size=10.0)
    make_mrc(tmp_path / "flat" / "f.mrc", shape=(1, 32, 32), voxel_size=10.0)
    for words, message in [
        (["--pixel_size", "1001"], "t.mrc, column rlnPixelSize: 1001 must be positive and <= 1000"),
        (["--voltage", "1e7"], "column rlnVoltage: 1e+07 must be positive and <= 3000 (kV)"),
        (["--defocus", "2e6"], "column rlnDefocus: 2e+06 must be >= 0 and <= 1e+06"),
    ]:
        capsys.readouterr()
        assert run(["prepare_star", "tomograms", *words]) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and message in errors[0] and "check --pixel_size" in errors[0]
        assert not (tmp_path / "tomograms.star").exists()
    assert run(["prepare_star", "flat"]) == 1
    assert "f.mrc: shape (1, 32, 32) (z, y, x) is a 2D image" in capsys.readouterr().err


def test_a_defocus_in_microns_is_named_wherever_it_would_act(
    train_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--defocus 3.5 (µm meant) made a CTF whose first zero lies beyond Nyquist: no CTF at all,
    without a word."""
    caplog.set_level(logging.WARNING, logger="isonet2")
    line = "prepare_star full -e EVN -o ODD --defocus 3.5 --number_subtomos 4 --pixel_size 10"
    assert run(line.split()) == 0
    said = "rlnDefocus 3.5 Å (row 1 and 1 more) looks like µm: rlnDefocus is in Å, 3.5 µm = 35000 Å"
    assert said in caplog.text and "give --defocus in Å" in caplog.text
    refine = "refine tomograms.star -o r --CTF_mode network --epochs 1 --cube_size 32"
    for line in ("deconv tomograms.star", f"{refine} --arch unet-small --ncpus 0"):
        caplog.clear()
        assert run([*line.split(), *(["--with_preview", "False"] if "refine" in line else [])]) == 0
        assert said in caplog.text and "fix rlnDefocus in tomograms.star" in caplog.text
    caplog.clear()  # no CTF asked for: nothing to say
    line = "refine tomograms.star -o n --epochs 1 --cube_size 32 --arch unet-small --ncpus 0"
    assert run([*line.split(), "--with_preview", "False"]) == 0
    assert "looks like µm" not in caplog.text


def test_a_prefix_too_long_for_a_file_name_stops_before_predicting(
    train_project: Path, one_epoch_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its temp file failed to open only after the prediction, with the whole temp path."""
    words = ["predict", "tomograms.star", str(one_epoch_checkpoint), "-o", "p", "--tomo_idx", "1"]
    assert run([*words, "--output_prefix", "x" * 300]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too long for a file name; give a shorter prefix" in err, err
    assert "tile/s" not in err and not Path("p").exists()
    assert run([*words, "--output_prefix", "x" * 180]) == 0  # long, but a file name still


@pytest.mark.parametrize(("command", "folder"), [("deconv", "deconv"), ("make_mask", "mask")])
def test_an_all_zero_map_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mrc_writer: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    command: str,
    folder: str,
) -> None:
    """deconv wrote zeros and make_mask kept 81 % of an all-zero map, both with exit 0."""
    monkeypatch.chdir(tmp_path)
    mrc_writer(tmp_path / "tomograms" / "t.mrc", np.zeros((20, 32, 32), np.float32), 10.0)
    assert run(["prepare_star", "tomograms", "--defocus", "30000"]) == 0
    capsys.readouterr()
    assert run([command, "tomograms.star"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "t.mrc: every voxel is 0; the map is empty" in errors[0]
    assert not list((tmp_path / folder).glob("*.mrc"))
    row = read_star("tomograms.star").rows[0]
    assert row.path_in_column("rlnDeconvTomoName") is None and row.mask_path is None


@pytest.mark.parametrize(
    ("words", "folder"),
    [
        (["deconv", "tomograms.star", "--deconv_folder", "elsewhere"], "elsewhere"),
        (["make_mask", "tomograms.star", "--mask_folder", "elsewhere"], "elsewhere"),
        (["predict", "tomograms.star", "model.pt", "-o", "elsewhere"], "elsewhere"),
    ],
)
def test_a_star_in_a_read_only_folder_is_refused_before_any_work(
    flat_project: Path,
    one_epoch_checkpoint: Path,
    mrc_writer: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    folder: str,
) -> None:
    """deconv, make_mask and predict did the first tomogram's work (a map the star never
    listed) before failing to rewrite a star in a read-only folder (a kill audit). Root may
    write anywhere, so the test denies the project folder through os.access."""
    (flat_project / "model.pt").symlink_to(one_epoch_checkpoint)
    table = read_star("tomograms.star")
    mrc_writer(flat_project / "t.mrc", np.random.default_rng(0).random((20, 32, 32)), 10.0)
    row = table.rows[0]
    row.tomogram_path = row.deconv_path = "t.mrc"
    row.half1_path = row.half2_path = None
    write_star(table, "tomograms.star")
    real_access = os.access
    project = flat_project.resolve()
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path).resolve() != project and real_access(path, mode)
    )
    capsys.readouterr()
    assert run(words) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "tomograms.star: its folder cannot be written" in errors[0]
    assert not list((flat_project / folder).glob("*.mrc"))
