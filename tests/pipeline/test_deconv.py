"""deconv command: the tutorial's lines verbatim, chunks, pass-through, resuming and bad input."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tutorial_lines import isonet

import isonet2.pipeline.deconv as deconv_pipeline
from isonet2.cli import run
from isonet2.io.mrc import read_info, read_volume
from isonet2.io.star import read_star

SHAPES = [(20, 34, 31), (18, 30, 36)]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_mrc: Callable[..., Path]) -> Path:
    """cwd = a project with two full tomograms listed in tomograms.star, defocus 30000 Å."""
    monkeypatch.chdir(tmp_path)
    for i, shape in enumerate(SHAPES):
        make_mrc(tmp_path / "tomograms" / f"tomo_{i}.mrc", shape=shape, voxel_size=10.0, seed=i)
    assert run(["prepare_star", "tomograms", "--defocus", "30000", "--pixel_size", "10"]) == 0
    return tmp_path


@pytest.mark.parametrize(
    ("line", "folder"),
    [
        (
            "isonet.py deconv tomograms.star --deconvfolder deconv --snrfalloff 0.7 --deconvstrength 1",
            "deconv",
        ),
        ("isonet.py deconv tomograms.star", "deconv"),
        ("isonet.py deconv tomograms.star --output_dir out --chunk_size 16 --ncpus 1", "out"),
    ],
)
def test_tutorial_lines_deconvolve_every_row(project: Path, line: str, folder: str) -> None:
    assert isonet(line) == 0
    for i, row in enumerate(read_star("tomograms.star").rows):
        assert row.deconv_path == f"{folder}/tomo_{i}_deconv.mrc"
        info = read_info(row.deconv_path)
        assert info.shape == SHAPES[i] and info.pixel_size_angstrom == pytest.approx(10.0)
        before, after = read_volume(row.tomogram_path or ""), read_volume(row.deconv_path)
        assert not np.allclose(before, after)
        assert after.mean() == pytest.approx(before.mean(), abs=1e-4)
        assert after.std() == pytest.approx(before.std(), rel=1e-4)
    record = json.loads((project / folder / "deconv_config.json").read_text())
    assert record["command"] == "deconv" and record["parameters"]["output_dir"] == folder


@pytest.mark.parametrize(
    ("line", "folder", "ours"),
    [
        ("isonet.py deconv tomograms.star", "deconv", "tomo_1_deconv.mrc"),
        ("isonet.py make_mask tomograms.star", "mask", "tomo_1_mask.mrc"),
    ],
)
def test_a_rerun_removes_the_temp_a_killed_run_left_of_its_maps(
    project: Path, line: str, folder: str, ours: str
) -> None:
    Path(folder).mkdir()
    leftover = Path(folder) / f".{ours}.k9_x2ab7.mrc.tmp"  # what SIGKILL mid-map leaves
    leftover.write_bytes(bytes(1024))
    foreign = Path(folder) / ".notes.mrc.k9_x2ab7.mrc.tmp"  # no output of this command's
    foreign.write_bytes(b"")
    assert isonet(line) == 0
    assert not leftover.exists() and foreign.exists()


def test_tomo_idx_and_defocus_zero_pass_through(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    star = (project / "tomograms.star").read_text().replace("30000.0", "0.0")
    (project / "tomograms.star").write_text(star)
    assert isonet("isonet.py deconv tomograms.star --tomo_idx 2") == 0
    rows = read_star("tomograms.star").rows
    assert rows[0].deconv_path is None
    assert rows[1].deconv_path == "deconv/tomo_1_deconv.mrc"
    np.testing.assert_array_equal(
        read_volume(rows[1].deconv_path), read_volume(rows[1].tomogram_path or "")
    )
    assert "defocus is 0" in capsys.readouterr().err


def test_a_stopped_run_keeps_finished_tomograms(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = deconv_pipeline.deconvolve

    def stop_on_second(volume: np.ndarray, **kwargs: object) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(volume, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deconv_pipeline, "deconvolve", stop_on_second)
    assert isonet("isonet.py deconv tomograms.star") == 130
    rows = read_star("tomograms.star").rows
    assert rows[0].deconv_path == "deconv/tomo_0_deconv.mrc" and rows[1].deconv_path is None
    assert sorted(p.name for p in (project / "deconv").iterdir()) == [
        "deconv_config.json",
        "tomo_0_deconv.mrc",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_kill_or_a_closed_terminal_mid_tomogram_leaves_no_temp_file(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: int,
) -> None:
    """`kill` (or the GUI's Cancel) and a closed terminal while the second tomogram is being
    written: one line, exit 128 + N, the first tomogram kept, no hidden temp file left (by
    Python's default the process died on the spot and left it)."""
    calls: list[int] = []
    original = deconv_pipeline.deconvolve

    def signalled_in_second(volume: np.ndarray, **kwargs: object) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises between bytecodes, long before this ends
        return original(volume, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deconv_pipeline, "deconvolve", signalled_in_second)
    caught: list[int] = []  # without the command's handler this gets it (not pytest's death)

    def ours(number: int, frame: object) -> None:
        caught.append(number)

    previous = signal.signal(signum, ours)
    try:
        assert isonet("isonet.py deconv tomograms.star") == 128 + signum
        assert signal.getsignal(signum) is ours  # the caller's handler is back
    finally:
        signal.signal(signum, previous)
    assert caught == []
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"isonet.py deconv: stopped by {signal.Signals(signum).name}"
    )
    assert sorted(p.name for p in (project / "deconv").iterdir()) == [
        "deconv_config.json",
        "tomo_0_deconv.mrc",
    ]
    rows = read_star("tomograms.star").rows
    assert rows[0].deconv_path == "deconv/tomo_0_deconv.mrc" and rows[1].deconv_path is None


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        (
            "isonet.py deconv tomograms.star",
            1,
            "column rlnTomoName: tomograms/tomo_1.mrc: no such file",
        ),
        (
            "isonet.py deconv tomograms.star --input_column rlnBogus",
            1,
            "unknown star column 'rlnBogus'; tomogram columns are: rlnTomoName",
        ),
        (
            "isonet.py deconv tomograms.star --input_column rlnDeconvTomoName",
            1,
            "row 1 has no rlnDeconvTomoName",
        ),
        ("isonet.py deconv tomograms.star --tomo_idx 7", 1, "no star row has rlnIndex 7"),
        ("isonet.py deconv tomograms.star --overlap_rate 0.7", 2, "overlap_rate"),
        ("isonet.py deconv missing.star", 1, "missing.star: no such star file"),
    ],
)
def test_bad_input_one_line_nonzero_exit(
    project: Path, capsys: pytest.CaptureFixture[str], line: str, code: int, message: str
) -> None:
    (project / "tomograms" / "tomo_1.mrc").unlink()
    star_before = (project / "tomograms.star").read_text()
    capsys.readouterr()
    assert isonet(line) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1, err
    assert (project / "tomograms.star").read_text() == star_before
    assert not (project / "deconv").exists()


def test_a_star_of_halves_only_deconvolves_the_even_halves(halves_only: Path) -> None:
    """The tutorial's denoise section runs deconv and make_mask on a star that prepare_star
    made from --even/--odd alone; deconv refused it (row 1 has no rlnTomoName)."""
    assert isonet("isonet.py deconv tomograms.star") == 0
    rows = read_star("tomograms.star").rows
    assert [row.deconv_path for row in rows] == [
        "deconv/t0_EVN_deconv.mrc",
        "deconv/t1_EVN_deconv.mrc",
    ]
    assert read_info("deconv/t0_EVN_deconv.mrc").shape == read_info("EVN/t0_EVN.mrc").shape
    assert isonet("isonet.py make_mask tomograms.star") == 0  # from the deconvolved halves
    assert [row.mask_path for row in read_star("tomograms.star").rows] == [
        "mask/t0_EVN_deconv_mask.mrc",
        "mask/t1_EVN_deconv_mask.mrc",
    ]
