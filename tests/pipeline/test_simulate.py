"""`isonet.py simulate`: every preset writes a project whose star later commands can read."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
import pytest

from isonet2.cli import run
from isonet2.config import SimulateConfig
from isonet2.config.simulate import PresetName
from isonet2.io.mrc import read_info, read_volume
from isonet2.io.star import read_star
from isonet2.pipeline import simulate as simulate_pipeline
from isonet2.simulate import PRESETS

TINY = ["--shape", "64,64,64", "--tilt_step", "6"]


def content(path: Path) -> bytes:
    """A file's bytes, header included (isonet2 writes no creation time into it)."""
    return path.read_bytes()


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_preset_names_match_the_simulator() -> None:
    assert set(typing.get_args(PresetName)) == set(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_writes_a_project(cwd: Path, preset: str) -> None:
    assert run(["simulate", "--preset", preset, "-o", "sim", "--ntomos", "2", *TINY]) == 0
    chosen = PRESETS[preset]
    rows = read_star(cwd / "sim" / "tomograms.star").rows
    assert [r.index for r in rows] == [1, 2]
    for row, name in zip(rows, ("sim_01", "sim_02"), strict=True):
        assert row.tomogram_path == f"sim/full/{name}.mrc"
        assert row.half1_path == f"sim/even/{name}_EVN.mrc"
        assert row.half2_path == f"sim/odd/{name}_ODD.mrc"
        assert row.pixel_size_angstrom == chosen.pixel_size_angstrom
        assert row.defocus_angstrom == chosen.defocus_angstrom
        assert (row.tilt_min_deg, row.tilt_max_deg) == (chosen.tilt_min_deg, chosen.tilt_max_deg)
        assert (row.voltage_kv, row.cs_mm, row.amplitude_contrast) == (300.0, 2.7, 0.1)
        assert row.number_subtomos == 1500
        assert row.corrected_path is row.mask_path is row.deconv_path is None
        truth = cwd / "sim" / "ground_truth" / f"{name}.mrc"
        for path in (row.tomogram_path, row.half1_path, row.half2_path, truth):
            info = read_info(path)
            assert info.shape == (64, 64, 64)
            assert info.pixel_size_angstrom == pytest.approx(chosen.pixel_size_angstrom)
        full = read_volume(row.tomogram_path)
        np.testing.assert_array_equal(
            full, read_volume(row.half1_path) + read_volume(row.half2_path)
        )
    record = json.loads((cwd / "sim" / "simulate_config.json").read_text())
    assert record["command"] == "simulate" and record["parameters"]["preset"] == preset


def test_flags_override_the_preset(cwd: Path) -> None:
    words = [
        "simulate",
        "-o",
        "out",
        "--ntomos",
        "1",
        "--pixelsize",
        "7",
        "--defocus",
        "20000",
        "--tilt_min",
        "-45",
        "--tilt_max",
        "50",
        "--snr",
        "1",
        *TINY,
    ]
    assert run(words) == 0
    (row,) = read_star(cwd / "out" / "tomograms.star").rows
    assert (row.pixel_size_angstrom, row.defocus_angstrom) == (7.0, 20000.0)
    assert (row.tilt_min_deg, row.tilt_max_deg, row.number_subtomos) == (-45.0, 50.0, 3000)
    assert read_info(row.half1_path or "").pixel_size_angstrom == pytest.approx(7.0)


def test_same_seed_same_bytes_and_seed_plus_index(cwd: Path) -> None:
    assert run(["simulate", "-o", "a", "--ntomos", "2", *TINY]) == 0
    assert run(["simulate", "-o", "b", "--ntomos", "2", *TINY]) == 0
    assert run(["simulate", "-o", "c", "--ntomos", "1", "--seed", "1", *TINY]) == 0
    files = sorted(p.relative_to(cwd / "a") for p in (cwd / "a").rglob("*.mrc"))
    assert len(files) == 8
    for relative in files:
        assert content(cwd / "a" / relative) == content(cwd / "b" / relative)
    for folder, suffix in (("ground_truth", ""), ("even", "_EVN"), ("odd", "_ODD")):
        second = content(cwd / "a" / folder / f"sim_02{suffix}.mrc")
        assert second == content(cwd / "c" / folder / f"sim_01{suffix}.mrc")
        assert second != content(cwd / "a" / folder / f"sim_01{suffix}.mrc")


def test_star_feeds_evaluate(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["simulate", "--preset", "lamella-asym", "-o", "sim", "--ntomos", "2", *TINY]) == 0
    capsys.readouterr()
    leftover = cwd / "scores" / ".sim_01_fsc.png.k2x9q1zz.png"  # a SIGKILLed run's, kept for good
    leftover.parent.mkdir()
    leftover.write_bytes(b"half a plot")
    words = [
        "evaluate",
        "--star",
        "sim/tomograms.star",
        "--column",
        "rlnTomoName",
        "--ground_truth",
        "sim/ground_truth",
        "-o",
        "scores",
    ]
    assert run(words) == 0
    assert not leftover.exists()
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["reference"] for r in records] == [f"sim/ground_truth/sim_0{i}.mrc" for i in (1, 2)]
    assert all((r["tilt_min_deg"], r["tilt_max_deg"]) == (-50.0, 65.0) for r in records)
    assert all(r["mean_fsc_out_of_wedge"] > r["mean_fsc_in_wedge"] + 0.1 for r in records)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--tilt_min", "30", "--tilt_max", "20"], "--tilt_min (30) must be below --tilt_max (20)"),
        (["--tilt_min", "70"], "tilt range 70..60 is empty"),
        (["--tilt_max", "95"], "--tilt_max '95'"),
        (["--shape", "32,64,64"], "every axis must be at least 64 voxels, got 32,64,64"),
        (["--shape", "64,64"], "give three sizes Z,Y,X"),
        (["--snr", "0"], "--snr '0'"),
        (["--snr", "-1"], "--snr '-1'"),
        (["--preset", "cel"], "--preset 'cel'"),
        (["--tilt_step", "0"], "--tilt_step '0'"),
    ],
)
def test_bad_input_is_one_line(
    cwd: Path, capsys: pytest.CaptureFixture[str], words: list[str], message: str
) -> None:
    assert run(["simulate", "-o", "sim", *words]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (cwd / "sim").exists()


def test_a_stopped_rerun_leaves_no_star_claiming_mixed_maps(
    cwd: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A rerun over a project, stopped after its first tomogram, left the old star listing
    new sim_01 maps beside old sim_02 ones (a kill audit). The star waits in .bak now."""
    assert run(["simulate", "-o", "p", "--ntomos", "2", *TINY]) == 0
    star = cwd / "p" / "tomograms.star"
    first = star.read_text()
    assert run(["simulate", "-o", "p", "--ntomos", "2", *TINY]) == 0  # the same project again
    assert star.read_text() == first and not (cwd / "p" / "tomograms.star.bak").exists()
    real = simulate_pipeline.simulate_tomogram
    made: list[int] = []

    def stop_at_the_second(*args: object, **kwargs: object) -> object:
        made.append(1)
        if len(made) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulate_pipeline, "simulate_tomogram", stop_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        simulate_pipeline.run(
            SimulateConfig(output_dir="p", number_tomograms=2, seed=5, shape=[64, 64, 64])
        )
    assert not star.exists() and (cwd / "p" / "tomograms.star.bak").read_text() == first
    monkeypatch.setattr(simulate_pipeline, "simulate_tomogram", real)
    assert run(["simulate", "-o", "p", "--ntomos", "2", "--seed", "5", *TINY]) == 0
    assert star.is_file() and (cwd / "p" / "tomograms.star.bak").read_text() == first
    edited = first.replace("35000", "36000")  # a star the user changed is kept, with a word
    star.write_text(edited)
    assert run(["simulate", "-o", "p", "--ntomos", "2", *TINY]) == 0
    assert (cwd / "p" / "tomograms.star.bak").read_text() == edited and star.read_text() == first
    assert "p/tomograms.star existed: replaced, the earlier file is kept as" in caplog.text


@pytest.mark.parametrize("flag", [["--tilt_max", "-60"], ["--tilt_min", "60"]])
def test_a_tilt_range_of_one_angle_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    out = tmp_path / "sim"
    assert run(["simulate", "-o", str(out), "--shape", "64,64,64", *flag]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is empty" in err
    assert not out.exists()
