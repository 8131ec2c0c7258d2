"""make_mask command: the tutorial's lines verbatim, column fallback, boundaries and bad input."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from tutorial_lines import isonet

from isonet2.cli import run
from isonet2.io.star import read_star, write_star

SHAPES = [(24, 40, 38), (21, 36, 44)]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_mrc: Callable[..., Path]) -> Path:
    """cwd = a project: two full tomograms with even/odd halves in tomograms.star."""
    monkeypatch.chdir(tmp_path)
    for i, shape in enumerate(SHAPES):
        for folder, seed in (("full", i), ("EVN", 10 + i), ("ODD", 20 + i)):
            make_mrc(
                tmp_path / folder / f"t{i}_{folder}.mrc", shape=shape, voxel_size=10.0, seed=seed
            )
    words = ["prepare_star", "full", "-e", "EVN", "-o", "ODD", "--defocus", "30000"]
    assert run([*words, "--pixel_size", "10"]) == 0
    return tmp_path


def check_masks(folder: str, stems: list[str], z_crop: float) -> None:
    for i, row in enumerate(read_star("tomograms.star").rows):
        assert row.mask_path == f"{folder}/{stems[i]}_mask.mrc"
        with mrcfile.open(row.mask_path, permissive=False) as mrc:
            assert mrc.header.mode == 0 and mrc.data.dtype == np.int8
            assert mrc.data.shape == SHAPES[i]
            assert float(mrc.voxel_size.x) == pytest.approx(10.0)
            data = np.asarray(mrc.data)
        assert set(np.unique(data)) == {0, 1}
        crop = round(SHAPES[i][0] * z_crop / 2)
        if crop:
            assert not data[:crop].any() and not data[-crop:].any()


def test_tutorial_lines_after_deconv(project: Path) -> None:
    assert isonet("isonet.py deconv tomograms.star") == 0
    line = "isonet.py make_mask tomograms.star --maskfolder mask --patchsize 4 --densitypercentage 50 --stdpercentage 80 --zcrop 0.2"
    assert isonet(line) == 0
    check_masks("mask", ["t0_full_deconv", "t1_full_deconv"], 0.2)
    record = json.loads((project / "mask" / "make_mask_config.json").read_text())
    assert record["parameters"]["std_percentage"] == 80.0


def test_plain_line_falls_back_to_the_full_tomograms(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert isonet("isonet.py make_mask tomograms.star") == 0
    check_masks("mask", ["t0_full", "t1_full"], 0.2)
    assert "(from rlnTomoName)" in caplog.text


def test_falls_back_to_the_even_half(project: Path) -> None:
    table = read_star("tomograms.star")
    for row in table.rows:
        row.tomogram_path = None
    write_star(table, "tomograms.star")
    assert isonet("isonet.py make_mask tomograms.star --tomo_idx 2 --z_crop 0") == 0
    rows = read_star("tomograms.star").rows
    assert rows[0].mask_path is None and rows[1].mask_path == "mask/t1_EVN_mask.mrc"


def fake_model2point(folder: Path, points: str, fail: bool = False) -> None:
    """A stand-in for IMOD's model2point that writes `points` to its -output file."""
    folder.mkdir()
    script = folder / "model2point"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "assert '-input' in args\n"
        f"if {fail}: sys.exit('ERROR: model2point - reading model')\n"
        f"open(args[args.index('-output') + 1], 'w').write({points!r})\n"
    )
    script.chmod(0o755)


def test_boundary_polygon_limits_the_mask(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_model2point(
        project / "bin", "1 1 4.5 5.5 10\n1 1 20.5 5.5 10\n1 1 20.5 30.5 10\n1 1 4.5 30.5 10\n"
    )
    monkeypatch.setenv("PATH", f"{project / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (project / "boundary.mod").write_bytes(b"IMODV1.2")
    table = read_star("tomograms.star")
    table.rows[0].mask_boundary_path = "boundary.mod"
    write_star(table, "tomograms.star")
    line = "isonet.py make_mask tomograms.star --tomo_idx 1 --density_percentage 100 --std_percentage 100 --z_crop 0"
    assert isonet(line) == 0
    with mrcfile.open("mask/t0_full_mask.mrc") as mrc:
        data = np.asarray(mrc.data)
    expected = np.zeros(SHAPES[0][1:], dtype=np.int8)
    expected[6:31, 5:21] = 1
    np.testing.assert_array_equal(data, np.broadcast_to(expected, SHAPES[0]))


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        ("isonet.py make_mask tomograms.star --densitypercentage 150", 2, "density"),
        ("isonet.py make_mask tomograms.star --stdpercentage -5", 2, "std"),
        ("isonet.py make_mask tomograms.star --std_percentage 0", 2, "--std_percentage 0 keeps no"),
        (
            "isonet.py make_mask tomograms.star --density_percentage 0",
            2,
            "--density_percentage 0 keeps",
        ),
        ("isonet.py make_mask tomograms.star --tomo_idx 3", 1, "no star row has rlnIndex 3"),
        (
            "isonet.py make_mask tomograms.star --input_column rlnFoo",
            1,
            "unknown star column 'rlnFoo'",
        ),
        (
            "isonet.py make_mask tomograms.star --tomo_idx 2",
            1,
            "deconv/t1_full_deconv.mrc: no such file",
        ),
        ("isonet.py make_mask tomograms.star --tomo_idx 1", 1, "model2point (IMOD) is needed"),
    ],
)
def test_bad_input_one_line_nonzero_exit(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    code: int,
    message: str,
) -> None:
    table = read_star("tomograms.star")
    table.rows[0].mask_boundary_path = "boundary.mod"
    table.rows[1].deconv_path = "deconv/t1_full_deconv.mrc"
    write_star(table, "tomograms.star")
    monkeypatch.setenv("PATH", str(project / "empty"))
    star_before = (project / "tomograms.star").read_text()
    capsys.readouterr()
    assert isonet(line) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1, err
    assert (project / "tomograms.star").read_text() == star_before
    assert not (project / "mask").exists()


@pytest.mark.parametrize(
    ("points", "fail", "message"),
    [
        ("", True, "model2point failed (ERROR: model2point - reading model)"),
        ("1 1 4 5 10\n1 1 20 5 10\n", False, "every contour needs at least 3 points"),
    ],
)
def test_bad_boundary_model(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    points: str,
    fail: bool,
    message: str,
) -> None:
    fake_model2point(project / "bin", points, fail)
    monkeypatch.setenv("PATH", str(project / "bin"))
    (project / "boundary.mod").write_bytes(b"IMODV1.2")
    table = read_star("tomograms.star")
    table.rows[1].mask_boundary_path = "boundary.mod"
    write_star(table, "tomograms.star")
    capsys.readouterr()
    assert isonet("isonet.py make_mask tomograms.star") == 1
    err = capsys.readouterr().err
    assert "row 2, rlnMaskBoundary boundary.mod" in err and message in err, err
    assert err.count("\n") == 1, err


def test_a_mask_that_keeps_no_voxel_is_one_line_and_no_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was written and recorded (exit 0); only refine said later that it was empty."""
    star_before = (project / "tomograms.star").read_text()
    capsys.readouterr()
    assert isonet("isonet.py make_mask tomograms.star --z_crop 0.99") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1, errors
    assert "error: the mask of full/t0_full.mrc keeps no voxel; lower --z_crop (0.99)" in errors[0]
    assert (project / "tomograms.star").read_text() == star_before
    assert not list((project / "mask").glob("*.mrc"))
