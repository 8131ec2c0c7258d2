"""`isonet.py evaluate`: explicit volumes, star columns, ground-truth pairing and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from isonet2.cli import run
from isonet2.evaluate import evaluate
from isonet2.io.mrc import read_volume
from isonet2.io.star import StarTable, TomogramRow, write_star
from isonet2.simulate import simulate_tomogram


@pytest.fixture
def maps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mrc_writer: Callable[..., Path]) -> Path:
    """cwd with truth/t1.mrc, t2.mrc, maps/t1_corrected.mrc, ... and tomograms.star listing them."""
    monkeypatch.chdir(tmp_path)
    rows = []
    for i in (1, 2):
        sim = simulate_tomogram((64, 64, 64), preset="sparse", tilt_step_deg=6.0, seed=i)
        mrc_writer(tmp_path / "truth" / f"t{i}.mrc", sim.ground_truth, 10.0)
        mrc_writer(tmp_path / "maps" / f"t{i}_corrected.mrc", sim.even + sim.odd, 10.0)
        mrc_writer(tmp_path / "halves" / f"t{i}_EVN.mrc", sim.even, 10.0)
        mrc_writer(tmp_path / "halves" / f"t{i}_ODD.mrc", sim.odd, 10.0)
        rows.append(
            TomogramRow(
                index=i,
                half1_path=f"halves/t{i}_EVN.mrc",
                half2_path=f"halves/t{i}_ODD.mrc",
                corrected_path=f"maps/t{i}_corrected.mrc",
                pixel_size_angstrom=10.0,
                tilt_min_deg=-45.0 if i == 2 else -60.0,
            )
        )
    write_star(StarTable(rows=rows), tmp_path / "tomograms.star")
    return tmp_path


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_two_volumes(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "evaluate",
            "maps/t1_corrected.mrc",
            "--reference",
            "truth/t1.mrc",
            "--tilt_min",
            "-60",
            "--tilt_max",
            "60",
            "-o",
            "out",
        ]
    )
    assert code == 0
    (record,) = lines(capsys.readouterr().out)
    assert lines((maps / "out" / "evaluate.jsonl").read_text()) == [record]
    assert (maps / "out" / "t1_corrected_fsc.png").stat().st_size > 0
    assert (maps / "out" / "evaluate_config.json").is_file()
    direct = evaluate(
        read_volume("maps/t1_corrected.mrc"),
        read_volume("truth/t1.mrc"),
        pixel_size_angstrom=10.0,
        tilt_min_deg=-60.0,
        tilt_max_deg=60.0,
    ).as_dict()
    assert {k: record[k] for k in direct} == direct
    assert (record["pixel_size_angstrom"], record["index"]) == (10.0, None)


def test_a_reference_of_other_voxels_is_named(
    maps: Path, mrc_writer: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A 20 Å reference scored against a 10 Å map without a word (same voxel counts)."""
    mrc_writer(maps / "truth" / "coarse.mrc", read_volume("truth/t1.mrc"), 20.0)
    words = ["evaluate", "maps/t1_corrected.mrc", "-o", "out"]
    assert run([*words, "--reference", "truth/t1.mrc"]) == 0
    assert "Å voxels in its header" not in caplog.text
    assert run([*words, "--reference", "truth/coarse.mrc"]) == 0
    said = (
        "maps/t1_corrected.mrc has 10 Å voxels in its header but its reference "
        "truth/coarse.mrc has 20 Å: scored voxel for voxel at 10 Å"
    )
    assert said in caplog.text


def test_star_with_ground_truth_by_stem_and_append(
    maps: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["evaluate", "--star", "tomograms.star", "--ground_truth", "truth"]) == 0
    records = lines(capsys.readouterr().out)
    assert [(r["map"], r["reference"]) for r in records] == [
        ("maps/t1_corrected.mrc", "truth/t1.mrc"),
        ("maps/t2_corrected.mrc", "truth/t2.mrc"),
    ]
    assert [r["tilt_min_deg"] for r in records] == [-60.0, -45.0]  # per row, from the star
    assert (
        run(
            [
                "evaluate",
                "--star",
                "tomograms.star",
                "--gt",
                "truth",
                "--tomo_idx",
                "2",
                "--tilt_min",
                "-30",
                "--pixel_size",
                "5",
            ]
        )
        == 0
    )
    (record,) = lines(capsys.readouterr().out)
    assert (record["index"], record["tilt_min_deg"], record["pixel_size_angstrom"]) == (
        2,
        -30.0,
        5.0,
    )
    assert len(lines((maps / "evaluation" / "evaluate.jsonl").read_text())) == 3


def test_ground_truth_by_sorted_name(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, name in ((1, "a"), (2, "b")):
        (maps / "truth" / f"t{i}.mrc").rename(maps / "truth" / f"{name}.mrc")
    assert run(["evaluate", "--star", "tomograms.star", "--ground_truth", "truth"]) == 0
    assert [r["reference"] for r in lines(capsys.readouterr().out)] == [
        "truth/a.mrc",
        "truth/b.mrc",
    ]
    (maps / "truth" / "b.mrc").unlink()
    assert run(["evaluate", "--star", "tomograms.star", "--ground_truth", "truth"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot pair by sorted name" in err


def test_half_maps_by_column(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "evaluate",
            "--star",
            "tomograms.star",
            "--column",
            "rlnTomoReconstructedTomogramHalf1",
            "--reference_column",
            "rlnTomoReconstructedTomogramHalf2",
            "--tomo_idx",
            "1",
        ]
    )
    assert code == 0
    (record,) = lines(capsys.readouterr().out)
    assert (record["map"], record["reference"]) == ("halves/t1_EVN.mrc", "halves/t1_ODD.mrc")


@pytest.mark.parametrize(
    ("words", "code", "message"),
    [
        (["maps/t1_corrected.mrc"], 2, "give --reference"),
        (["--star", "tomograms.star"], 2, "either --ground_truth or --reference_column"),
        (["a.mrc", "--reference", "b.mrc", "--star", "tomograms.star"], 2, "not both"),
        (["a.mrc", "--reference", "b.mrc", "--tomo_idx", "1"], 2, "go with --star"),
        (["a.mrc", "--reference", "b.mrc", "--column", "rlnFoo"], 2, "--column, --ground_truth"),
        (["a.mrc", "--reference", "b.mrc", "--tilt_min", "10", "--tilt_max", "0"], 2, "below"),
        (
            ["--star", "tomograms.star", "--gt", "truth", "--column", "rlnTomoName"],
            1,
            "row 1 has no rlnTomoName",
        ),
        (
            ["--star", "tomograms.star", "--gt", "truth", "--column", "rlnBogus"],
            1,
            "unknown star column 'rlnBogus'",
        ),
        (["--star", "tomograms.star", "--gt", "truth/t1.mrc"], 1, "one file for 2 maps"),
        (["maps/t1_corrected.mrc", "--reference", "nothing.mrc"], 1, "nothing.mrc: no such file"),
        (["maps/t1_corrected.mrc", "--reference", "small.mrc"], 1, "must match voxel for voxel"),
        (["nopixel.mrc", "--reference", "nopixel.mrc"], 1, "give --pixel_size"),
        (
            ["nan.mrc", "--reference", "truth/t1.mrc"],
            1,
            "nan.mrc: voxel (z, y, x) = (3, 4, 5) is nan",
        ),
        (["maps/t1_corrected.mrc", "--reference", "nan.mrc"], 1, "voxel (z, y, x) = (3, 4, 5)"),
        (
            ["maps/t1_corrected.mrc", "--reference", "./maps/../maps/t1_corrected.mrc"],
            1,
            "maps/t1_corrected.mrc would be scored against itself",
        ),
        (
            ["--star", "tomograms.star", "--reference_column", "rlnCorrectedTomoName"],
            1,
            "maps/t1_corrected.mrc would be scored against itself",
        ),
        (
            ["image.mrc", "--reference", "image2.mrc"],
            1,
            "image.mrc: shape (1, 64, 64) (z, y, x) is a 2D image",
        ),
        (
            ["zeros.mrc", "--reference", "truth/t1.mrc"],
            1,
            "zeros.mrc: every voxel is 0; a blank map",
        ),
        (["maps/t1_corrected.mrc", "--reference", "zeros.mrc"], 1, "zeros.mrc: every voxel is 0"),
    ],
)
@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_bad_input_is_one_line(
    maps: Path,
    mrc_writer: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    code: int,
    message: str,
) -> None:
    mrc_writer(maps / "small.mrc", np.zeros((64, 64, 32), np.float32), 10.0)
    mrc_writer(maps / "nopixel.mrc", np.zeros((64, 64, 64), np.float32), 0.0)
    with_nan = np.ones((64, 64, 64), np.float32)
    with_nan[3, 4, 5] = np.nan
    mrc_writer(maps / "nan.mrc", with_nan, 10.0)
    mrc_writer(maps / "zeros.mrc", np.zeros((64, 64, 64), np.float32), 10.0)
    for name in ("image.mrc", "image2.mrc"):
        mrc_writer(maps / name, np.random.default_rng(0).random((1, 64, 64), np.float32), 10.0)
    assert run(["evaluate", *words]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (maps / "evaluation").exists()  # nothing written before the inputs check out
