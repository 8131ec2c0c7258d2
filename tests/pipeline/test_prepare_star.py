"""prepare_star: the tutorial's lines verbatim, checked field by field, and every bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from tutorial_lines import isonet

from isonet2.io.mrc import read_info, read_volume
from isonet2.io.star import read_star


def halves(root: Path, make_mrc: Callable[..., Path], count: int = 5, voxel: float = 5.4) -> None:
    for i in range(1, count + 1):
        make_mrc(root / "EVN" / f"TS_{i:02d}_EVN.mrc", seed=i, voxel_size=voxel)
        make_mrc(root / "ODD" / f"TS_{i:02d}_ODD.mrc", seed=10 + i, voxel_size=voxel)


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_even_odd_with_short_flags(cwd: Path, make_mrc: Callable[..., Path]) -> None:
    halves(cwd / "tomograms", make_mrc, count=4)
    line = (
        "isonet.py prepare_star -e tomograms/EVN -o tomograms/ODD --output_star tomograms.star "
        "--pixelsize 5.4 --number_subtomos 500"
    )
    assert isonet(line) == 0
    rows = read_star(cwd / "tomograms.star").rows
    assert [r.index for r in rows] == [1, 2, 3, 4]
    for i, row in enumerate(rows, start=1):
        assert row.tomogram_path is None
        assert row.half1_path == f"tomograms/EVN/TS_{i:02d}_EVN.mrc"
        assert row.half2_path == f"tomograms/ODD/TS_{i:02d}_ODD.mrc"
        assert (row.pixel_size_angstrom, row.defocus_angstrom) == (5.4, 0.0)
        assert (row.voltage_kv, row.cs_mm, row.amplitude_contrast) == (300.0, 2.7, 0.1)
        assert (row.tilt_min_deg, row.tilt_max_deg, row.number_subtomos) == (-60.0, 60.0, 500)
        assert row.deconv_path is row.mask_path is row.box_file is row.corrected_path is None
    record = json.loads((cwd / "tomograms.prepare_star.json").read_text())
    assert record["command"] == "prepare_star" and record["parameters"]["pixel_size"] == 5.4


def test_full_folder_positional(cwd: Path, make_mrc: Callable[..., Path]) -> None:
    for i in range(3):
        make_mrc(cwd / "tomograms" / f"t{i}.rec", voxel_size=10.0)
    line = "isonet.py prepare_star tomograms --outputstar tomograms.star --pixelsize 10 --numbersubtomos 100"
    assert isonet(line) == 0
    rows = read_star(cwd / "tomograms.star").rows
    assert [r.tomogram_path for r in rows] == [f"tomograms/t{i}.rec" for i in range(3)]
    assert all(r.half1_path is None and r.number_subtomos == 100 for r in rows)
    assert all(r.pixel_size_angstrom == 10.0 for r in rows)


def test_create_average(cwd: Path, make_mrc: Callable[..., Path]) -> None:
    halves(cwd / "tomoset", make_mrc, count=2)
    # a SIGKILLed run's temp of an average (a whole tomogram's bytes) stayed for good
    leftover = cwd / "averaged_tomos" / ".TS_01_EVN_full.mrc.k2x9q1zz.mrc.tmp"
    leftover.parent.mkdir()
    leftover.write_bytes(b"half an average")
    line = (
        "isonet.py prepare_star --even tomoset/EVN --odd tomoset/ODD --pixel_size 5.35 "
        "--number_subtomos 800 --create_average True"
    )
    assert isonet(line) == 0
    rows = read_star(cwd / "tomograms.star").rows
    for i, row in enumerate(rows, start=1):
        assert row.tomogram_path == f"averaged_tomos/TS_{i:02d}_EVN_full.mrc"
        even, odd = read_volume(row.half1_path or ""), read_volume(row.half2_path or "")
        np.testing.assert_allclose(read_volume(row.tomogram_path), even + odd, rtol=1e-6)
        assert read_info(row.tomogram_path).pixel_size_angstrom == pytest.approx(5.4)
        assert row.pixel_size_angstrom == 5.35 and row.number_subtomos == 800
    assert sorted(p.name for p in (cwd / "averaged_tomos").iterdir()) == [
        "TS_01_EVN_full.mrc",
        "TS_02_EVN_full.mrc",
    ]


def test_per_tomogram_defocus_and_auto_counts(cwd: Path, make_mrc: Callable[..., Path]) -> None:
    halves(cwd / "tomograms_split", make_mrc)
    line = (
        "isonet.py prepare_star --even tomograms_split/EVN --odd tomograms_split/ODD "
        '--create_average True --pixel_size 5.4 --defocus "[39057,14817,25241,29776,15463]"'
    )
    assert isonet(line) == 0
    rows = read_star(cwd / "tomograms.star").rows
    assert [r.defocus_angstrom for r in rows] == [39057, 14817, 25241, 29776, 15463]
    assert all(r.number_subtomos == 600 for r in rows)  # auto = 3000 / 5
    assert all(Path(r.tomogram_path or "").is_file() for r in rows)


def test_auto_pixel_size_masks_and_coordinates(
    cwd: Path, make_mrc: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(2):
        make_mrc(cwd / "full" / f"t{i}.mrc", voxel_size=7.5)
        make_mrc(cwd / "masks" / f"m{i}.mrc")
        (cwd / "coords").mkdir(exist_ok=True)
        (cwd / "coords" / f"t{i}.txt").write_text("# x y z\n" + "1 2 3\n" * (i + 2))
    line = "isonet.py prepare_star full --mask_folder masks --coordinate_folder coords --tilt_min -50 --tilt_max 65"
    assert isonet(line) == 0
    rows = read_star(cwd / "tomograms.star").rows
    assert [r.pixel_size_angstrom for r in rows] == [7.5, 7.5]
    assert [r.mask_path for r in rows] == ["masks/m0.mrc", "masks/m1.mrc"]
    assert [r.box_file for r in rows] == ["coords/t0.txt", "coords/t1.txt"]
    assert [r.number_subtomos for r in rows] == [2, 3]
    assert (rows[0].tilt_min_deg, rows[0].tilt_max_deg) == (-50, 65)
    assert "ignored" not in caplog.text
    # a count typed beside coordinates was replaced without a word (an options audit)
    assert isonet(f"{line} --number_subtomos 50") == 0
    assert [r.number_subtomos for r in read_star(cwd / "tomograms.star").rows] == [2, 3]
    assert "--number_subtomos 50 ignored: rlnNumberSubtomo is each coordinate file's" in (
        caplog.text
    )


def _bad_project(cwd: Path, make_mrc: Callable[..., Path], case: str) -> None:
    if case == "empty":
        (cwd / "full").mkdir()
    elif case == "corrupt":
        make_mrc(cwd / "full" / "a.mrc")
        (cwd / "full" / "b.mrc").write_bytes(b"garbage" * 200)
    elif case == "counts":
        halves(cwd, make_mrc, count=2)
        (cwd / "ODD" / "TS_02_ODD.mrc").unlink()
    elif case == "shapes":
        halves(cwd, make_mrc, count=2)
        make_mrc(cwd / "ODD" / "TS_02_ODD.mrc", shape=(8, 16, 18))
    elif case == "aniso":
        path = make_mrc(cwd / "full" / "a.mrc")
        with mrcfile.open(path, mode="r+") as mrc:
            mrc.voxel_size = (10.0, 10.0, 20.0)
    elif case == "pair_voxels":
        halves(cwd, make_mrc, count=2)
        make_mrc(cwd / "ODD" / "TS_02_ODD.mrc", seed=3, voxel_size=10.0)
    elif case == "image":
        make_mrc(cwd / "full" / "a.mrc", shape=(16, 16))
    elif case == "zero_pixel":
        make_mrc(cwd / "full" / "a.mrc", voxel_size=0.0)
    elif case == "defocus":
        halves(cwd, make_mrc, count=3)
    elif case == "star_over_mrc":
        make_mrc(cwd / "full" / "a.mrc")
        (cwd / "notes.txt").write_text("my notes\n")


@pytest.mark.parametrize(
    ("case", "line", "code", "message"),
    [
        ("empty", "isonet.py prepare_star full", 1, "full: no .mrc, .rec or .map files"),
        ("corrupt", "isonet.py prepare_star full", 1, "full/b.mrc: not a readable MRC file"),
        ("counts", "isonet.py prepare_star -e EVN -o ODD", 1, "2 files in EVN but 1 in ODD"),
        ("shapes", "isonet.py prepare_star -e EVN -o ODD", 1, "ODD/TS_02_ODD.mrc has"),
        (
            "shapes",
            "isonet.py prepare_star -e EVN -o EVN",
            1,
            "--even/--odd: EVN/TS_01_EVN.mrc is both",
        ),
        (
            "shapes",
            "isonet.py prepare_star -e EVN -o ./EVN/",
            1,
            "EVN/TS_01_EVN.mrc is both halves",
        ),
        ("zero_pixel", "isonet.py prepare_star full", 1, "give it with --pixel_size"),
        ("aniso", "isonet.py prepare_star full", 1, "voxel sizes x / y / z = 10 / 10 / 20 Å"),
        (
            "pair_voxels",
            "isonet.py prepare_star -e EVN -o ODD",
            1,
            "EVN/TS_02_EVN.mrc has voxel size 5.4 Å but its partner ODD/TS_02_ODD.mrc 10 Å",
        ),
        (
            "image",
            "isonet.py prepare_star full",
            1,
            "full/a.mrc: shape (1, 16, 16) (z, y, x) is a 2D",
        ),
        (
            "star_over_mrc",
            "isonet.py prepare_star full --output_star full/a.mrc",
            1,
            "--output_star full/a.mrc: this file exists and is not a star file; writing",
        ),
        (
            "star_over_mrc",
            "isonet.py prepare_star full --star_name notes.txt",
            1,
            "--star_name notes.txt: this file exists and is not a star file",
        ),
        (
            "star_over_mrc",
            "isonet.py prepare_star full --coordinate_folder full",
            1,
            "full/a.mrc: not a text file of 'x y z' coordinates",
        ),
        (
            "defocus",
            "isonet.py prepare_star -e EVN -o ODD --defocus 1,2",
            1,
            "--defocus: 2 values for 3 tomograms",
        ),
        (
            "defocus",
            "isonet.py prepare_star -e EVN -o ODD --tilt_min 60 --tilt_max 60",
            2,
            "must be below --tilt_max",
        ),
        (
            "defocus",
            "isonet.py prepare_star -e EVN -o ODD --pixel_size 5 --bogus 1",
            2,
            "unknown flag --bogus",
        ),
    ],
)
def test_bad_input_one_line_nonzero_exit(
    cwd: Path,
    make_mrc: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    case: str,
    line: str,
    code: int,
    message: str,
) -> None:
    _bad_project(cwd, make_mrc, case)
    assert isonet(line) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1, err
    assert not (cwd / "tomograms.star").exists()
    if case == "star_over_mrc":  # the files named where the star belongs are left as they were
        assert (
            read_info(cwd / "full" / "a.mrc").shape
            and (cwd / "notes.txt").read_text() == "my notes\n"
        )


def test_a_pixel_size_given_overrides_headers_that_disagree(
    cwd: Path, make_mrc: Callable[..., Path]
) -> None:
    halves(cwd, make_mrc, count=2)
    make_mrc(cwd / "ODD" / "TS_02_ODD.mrc", seed=3, voxel_size=10.0)
    assert isonet("isonet.py prepare_star -e EVN -o ODD --pixel_size 5.4") == 0
    assert {row.pixel_size_angstrom for row in read_star("tomograms.star").rows} == {5.4}


def test_a_pixel_size_unlike_the_headers_is_used_with_a_warning(
    cwd: Path, make_mrc: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    halves(cwd, make_mrc, count=2, voxel=5.4)
    assert isonet("isonet.py prepare_star -e EVN -o ODD --pixel_size 10") == 0
    assert {row.pixel_size_angstrom for row in read_star("tomograms.star").rows} == {10.0}
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    assert warned[0].startswith("--pixel_size 10 differs from the MRC header of EVN/TS_01_EVN.mrc")
    assert "(5.4 Å) and 1 other;" in warned[0]
    caplog.clear()
    assert isonet("isonet.py prepare_star -e EVN -o ODD --pixel_size 5.4 --star_name b.star") == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_rerun_keeps_the_star_it_replaces(
    cwd: Path, make_mrc: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """The tutorial reruns prepare_star into tomograms.star; the defocus a user had typed into
    it (and the columns deconv, make_mask and predict had added) were gone for good."""
    halves(cwd, make_mrc, count=2)
    line = "isonet.py prepare_star -e EVN -o ODD --pixel_size 5.4"
    assert isonet(line) == 0
    assert isonet(line) == 0  # the same star again: nothing to keep
    assert not (cwd / "tomograms.star.bak").exists() and "kept as" not in caplog.text
    edited = (cwd / "tomograms.star").read_text().replace(" 0.0 ", " 31000.0 ")
    (cwd / "tomograms.star").write_text(edited)
    assert isonet(line) == 0
    assert (cwd / "tomograms.star.bak").read_text() == edited
    assert "tomograms.star existed: replaced, the earlier file is kept as tomograms.star.bak" in (
        caplog.text
    )
    assert read_star("tomograms.star.bak").rows[0].defocus_angstrom == 31000.0
