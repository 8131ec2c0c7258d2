"""The tomogram table: reference layout loads, round trips are exact, errors name the place."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import starfile

from isonet2.errors import InputError
from isonet2.io.star import (
    StarTable,
    TomogramRow,
    check_path_column,
    format_star,
    read_star,
    write_star,
)

REFERENCE = """
data_

loop_
_rlnIndex #1
_rlnTomoName #2
_rlnTomoReconstructedTomogramHalf1 #3
_rlnTomoReconstructedTomogramHalf2 #4
_rlnPixelSize #5
_rlnDefocus #6
_rlnVoltage #7
_rlnSphericalAberration #8
_rlnAmplitudeContrast #9
_rlnDeconvTomoName #10
_rlnMaskBoundary #11
_rlnMaskName #12
_rlnTiltMin #13
_rlnTiltMax #14
_rlnBoxFile #15
_rlnNumberSubtomo #16
_rlnCorrectedTomoName #17
1	<NA>	tomoset/EVN/a.mrc	tomoset/ODD/a.mrc	5.350000	39057.000000	300	2.700000	0.100000	<NA>	<NA>	<NA>	-60	60	<NA>	800	<NA>
2	<NA>	tomoset/EVN/b.mrc	tomoset/ODD/b.mrc	5.350000	14817.000000	300	2.700000	0.100000	<NA>	<NA>	mask/b.mrc	-50	65	<NA>	800	<NA>
"""


def test_reference_layout_with_na_cells_loads(tmp_path: Path) -> None:
    path = tmp_path / "tomograms.star"
    path.write_text(REFERENCE)
    table = read_star(path)
    first, second = table.rows
    assert first.tomogram_path is None and first.half1_path == "tomoset/EVN/a.mrc"
    assert first.pixel_size_angstrom == 5.35 and first.defocus_angstrom == 39057.0
    assert first.deconv_path is None and first.number_subtomos == 800
    assert second.mask_path == "mask/b.mrc" and (second.tilt_min_deg, second.tilt_max_deg) == (
        -50,
        65,
    )


def test_a_file_written_by_starfile_loads(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "rlnIndex": [1],
            "rlnTomoName": ["full/a.mrc"],
            "rlnPixelSize": [10.0],
            "rlnDefocus": [pd.NA],
            "rlnNumberSubtomo": [100],
        }
    )
    path = tmp_path / "t.star"
    starfile.write(frame, path)
    row = read_star(path).rows[0]
    assert row.tomogram_path == "full/a.mrc" and row.defocus_angstrom == 0.0


def test_write_read_round_trip_is_exact(tmp_path: Path) -> None:
    table = StarTable(
        rows=[
            TomogramRow(
                index=1,
                tomogram_path="a b/t 1.mrc",
                pixel_size_angstrom=5.35,
                defocus_angstrom=39057.5,
                tilt_min_deg=-50.0,
                number_subtomos=7,
            ),
            TomogramRow(
                index=2,
                half1_path="e.mrc",
                half2_path="o.mrc",
                pixel_size_angstrom=0.1 + 0.2,
                denoised_path="d.mrc",
                extra={"rlnCustom": "x"},
            ),
        ],
        extra_labels=["rlnCustom"],
    )
    table.rows[0].extra["rlnCustom"] = "y"
    path = tmp_path / "rt.star"
    write_star(table, path)
    again = read_star(path)
    assert again == table
    assert format_star(again) == path.read_text()
    assert "<NA>" not in path.read_text()


def test_denoised_column_only_when_used(tmp_path: Path) -> None:
    text = format_star(StarTable(rows=[TomogramRow(index=1)]))
    assert "rlnDenoisedTomoName" not in text and "rlnCorrectedTomoName" in text


def test_atomic_rewrite_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "t.star"
    write_star(StarTable(rows=[TomogramRow(index=1)]), path)
    write_star(StarTable(rows=[TomogramRow(index=1, defocus_angstrom=1.0)]), path)
    assert [p.name for p in tmp_path.iterdir()] == ["t.star"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "data_\nloop_\n_rlnIndex\n_rlnPixelSize\n1 abc\n",
            "row 1, column rlnPixelSize: 'abc' is not a float",
        ),
        ("data_\nloop_\n_rlnIndex\n_rlnPixelSize\n1\n", "1 values for 2 columns"),
        ("data_\nloop_\n_rlnIndex\n1\n", "column rlnPixelSize is missing"),
        ("hello\n", "no loop_ with rln columns"),
        (
            "data_\nloop_\n_rlnIndex\n_rlnPixelSize\n_rlnTiltMin\n_rlnTiltMax\n1 10 60 -60\n",
            r"row 1, columns rlnTiltMin and rlnTiltMax: 60\.\.-60 is not a tilt range",
        ),
        (
            "data_\nloop_\n_rlnIndex\n_rlnPixelSize\n_rlnTiltMax\n1 10 95\n",
            r"-60\.\.95 is not a tilt range; need -90 <= rlnTiltMin <= rlnTiltMax <= 90",
        ),
        ("data_\nloop_\n_rlnIndex\n_rlnPixelSize\n1 0\n", "column rlnPixelSize: 0 must be"),
        (
            "data_\nloop_\n_rlnIndex\n_rlnPixelSize\n_rlnDefocus\n1 10 0\n2 10 -3e4\n",
            "row 2, column rlnDefocus: -30000 must be >= 0",
        ),
        ("data_\nloop_\n_rlnPixelSize\n_rlnVoltage\n10 0\n", "column rlnVoltage: 0 must be"),
        (
            "data_\nloop_\n_rlnPixelSize\n_rlnSphericalAberration\n10 -1\n",
            "column rlnSphericalAberration: -1 must be >= 0",
        ),
        (
            "data_\nloop_\n_rlnPixelSize\n_rlnAmplitudeContrast\n10 1.5\n",
            r"column rlnAmplitudeContrast: 1\.5 must lie in \[0, 1\]",
        ),
    ],
)
def test_malformed_tables(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.star"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_star(path)


def test_missing_star_and_unknown_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such star file"):
        read_star(tmp_path / "nope.star")
    with pytest.raises(InputError, match="rlnDeconvTomoName"):
        check_path_column("rlnDeconvTomo")


def test_select_by_index() -> None:
    table = StarTable(rows=[TomogramRow(index=i) for i in (1, 2, 3)])
    assert [r.index for r in table.select([1, 3])] == [1, 3]
    with pytest.raises(InputError, match="no star row has rlnIndex 9"):
        table.select([9])
