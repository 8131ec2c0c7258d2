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
    defocus_in_microns,
    format_star,
    missing_file,
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


def test_a_table_of_optics_rows_before_the_tomograms_is_kept_not_read(tmp_path: Path) -> None:
    """RELION puts data_optics (a loop of its own rows) first; that block was taken for the
    tomogram table: "column rlnPixelSize is missing"."""
    optics = "data_optics\n\nloop_\n_rlnOpticsGroup\n_rlnVoltage\n1 300\n\n"
    table_text = "data_tomos\n\nloop_\n_rlnIndex\n_rlnTomoName\n_rlnPixelSize\n1 a.mrc 10\n"
    path = tmp_path / "t.star"
    path.write_text(optics + table_text)
    table = read_star(path)
    assert table.block_name == "tomos" and [r.tomogram_path for r in table.rows] == ["a.mrc"]
    write_star(table, path)
    assert path.read_text().startswith(optics)


def test_a_second_table_of_tomograms_is_refused(tmp_path: Path) -> None:
    """Two star files pasted into one: the second table's rows were skipped without a word."""
    one = "data_\n\nloop_\n_rlnIndex\n_rlnTomoName\n_rlnPixelSize\n1 a.mrc 10\n\n"
    two = "data_more\n\nloop_\n_rlnIndex\n_rlnTomoName\n_rlnPixelSize\n1 b.mrc 10\n"
    path = tmp_path / "ab.star"
    path.write_text(one + two)
    with pytest.raises(InputError, match=r"ab\.star:9: a second table of tomograms \(data_more\)"):
        read_star(path)


def test_other_blocks_and_comments_are_written_back(tmp_path: Path) -> None:
    """Commands rewrite the star to add their columns; nothing else in it may be lost."""
    optics = "# made by hand\ndata_optics\n\n_rlnVoltage 300\n\n"
    notes = "data_notes\n\nloop_\n_rlnMicrographName #1\nfoo.mrc\n"
    table_text = "data_tomos\n# the good ones\nloop_\n_rlnIndex\n_rlnPixelSize\n1 10\n"
    path = tmp_path / "t.star"
    path.write_text(optics + table_text + "\n" + notes)
    table = read_star(path)
    assert [row.pixel_size_angstrom for row in table.rows] == [10.0]
    table.rows[0].mask_path = "m.mrc"
    write_star(table, path)
    text = path.read_text()
    assert text.startswith(optics) and text.endswith(notes)
    assert "data_tomos\n# the good ones\n" in text
    again = read_star(path)
    assert again.rows[0].mask_path == "m.mrc" and again.block_name == "tomos"
    write_star(again, path)
    assert path.read_text() == text  # rewriting adds nothing either


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("plain space/a.mrc", "'plain space/a.mrc'"),
        ("tom's data/a b.mrc", '"tom\'s data/a b.mrc"'),
        ('say "hi"/a.mrc', "'say \"hi\"/a.mrc'"),
        # a quote or backslash inside a word: written bare, no reader could split the line
        ("John's/a.mrc", '"John\'s/a.mrc"'),
        ('a"b.mrc', "'a\"b.mrc'"),
        ("C:\\maps\\a.mrc", "'C:\\maps\\a.mrc'"),
    ],
)
def test_values_are_quoted_as_star_files_quote_them(tmp_path: Path, name: str, cell: str) -> None:
    """One pair of quotes around the whole value, as RELION reads it (was shell quoting:
    'tom'"'"'s data/a b.mrc'). The starfile package reads only the first kind back."""
    path = tmp_path / "q.star"
    write_star(StarTable(rows=[TomogramRow(index=1, tomogram_path=name)]), path)
    assert f"  {cell}  " in path.read_text()
    assert read_star(path).rows[0].tomogram_path == name
    if "'" not in name and '"' not in name:
        assert starfile.read(path)["rlnTomoName"].tolist() == [name]


def test_a_line_break_in_a_value_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "q.star"
    path.write_text("kept")
    table = StarTable(rows=[TomogramRow(index=1, tomogram_path="a\nb.mrc")])
    with pytest.raises(InputError, match="holds a line break, which a star file cannot store"):
        write_star(table, path)
    assert path.read_text() == "kept" and [p.name for p in tmp_path.iterdir()] == ["q.star"]


def test_a_missing_file_names_the_likeliest_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = str(missing_file("t.star: row 2, column rlnTomoName", "tomos/a.mrc"))
    assert relative == (
        "t.star: row 2, column rlnTomoName: tomos/a.mrc: no such file; paths in the star are "
        f"read from the folder isonet.py runs in ({tmp_path}): run it from the project folder, "
        "or fix the path in the star"
    )
    absolute = str(missing_file("row 1, column rlnMaskName", tmp_path / "m.mrc"))
    assert absolute.endswith("m.mrc: no such file; fix the path in the star")


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
            "row 1, column rlnPixelSize: 'abc' is not a number",
        ),
        (
            "data_\nloop_\n_rlnIndex\n_rlnPixelSize\n_rlnNumberSubtomo\n1 10 2.5\n",
            "row 1, column rlnNumberSubtomo: '2.5' is not a whole number",
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
            "data_\nloop_\n_rlnPixelSize\n_rlnNumberSubtomo\n10 -3\n",
            "row 1, column rlnNumberSubtomo: -3 must be >= 0",
        ),
        (
            "data_\nloop_\n_rlnIndex\n_rlnPixelSize\n1 10\n2 10\n1 10\n",
            "rows 1 and 3 both have rlnIndex 1; give every row its own index",
        ),
        ("data_\nloop_\n_rlnIndex\n_rlnPixelSize\n", "the tomogram table has no rows"),
        ("data_\n_rlnPixelSize 10\n_rlnTomoName a.mrc\n", "the tomogram table has no rows"),
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


HEAD = "data_\nloop_\n_rlnIndex #1\n_rlnPixelSize #2\n"


@pytest.mark.parametrize(
    ("label", "cell"),
    [
        ("rlnPixelSize", "inf"),
        ("rlnSphericalAberration", "inf"),
        ("rlnSphericalAberration", "-Infinity"),
        ("rlnDefocus", "inf"),
        ("rlnVoltage", "inf"),
        ("rlnTiltMax", "Infinity"),
        ("rlnNumberSubtomo", "inf"),
    ],
)
def test_non_finite_numbers_refused(tmp_path: Path, label: str, cell: str) -> None:
    path = tmp_path / "bad.star"
    if label == "rlnPixelSize":
        path.write_text(f"{HEAD}1 10\n2 {cell}\n")
    else:
        path.write_text(f"{HEAD}_{label} #3\n1 10 1\n2 10 {cell}\n")
    message = rf"bad\.star: row 2, column {label}: '{cell}' is not a finite number"
    with pytest.raises(InputError, match=message) as info:
        read_star(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cell", ["nan", "NaN", "-nan"])
def test_nan_is_an_empty_cell_as_pandas_writes_it(tmp_path: Path, cell: str) -> None:
    path = tmp_path / "t.star"
    path.write_text(f"{HEAD}_rlnMaskName #3\n_rlnDefocus #4\n1 10 nan {cell}\n")
    row = read_star(path).rows[0]
    assert row.mask_path is None and row.defocus_angstrom == TomogramRow(index=1).defocus_angstrom


@pytest.mark.parametrize(
    ("label", "cell", "message"),
    [
        ("rlnSphericalAberration", "1e308", r"1e\+308 must be >= 0 and <= 100 \(mm\)"),
        ("rlnSphericalAberration", "101", r"101 must be >= 0 and <= 100"),
        ("rlnVoltage", "1e6", r"1e\+06 must be positive and <= 3000 \(kV\)"),
        ("rlnDefocus", "2e6", r"2e\+06 must be >= 0 and <= 1e\+06 \(Å"),
        ("rlnPixelSize", "5000", r"5000 must be positive and <= 1000 \(Å\)"),
        (
            "rlnNumberSubtomo",
            "99999999999999999999",
            r"100000000000000000000 must be >= 0 and at most 1,000,000 subtomograms per tomogram",
        ),
        ("rlnNumberSubtomo", "1000001", r"1000001 must be >= 0 and at most 1,000,000"),
    ],
)
def test_values_no_microscope_gives_refused(
    tmp_path: Path, label: str, cell: str, message: str
) -> None:
    path = tmp_path / "bad.star"
    columns, cells = ("", "") if label == "rlnPixelSize" else (f"_{label}\n", "10 ")
    path.write_text(f"data_\nloop_\n_rlnPixelSize\n{columns}{cells}{cell}\n")
    with pytest.raises(InputError, match=rf"row 1, column {label}: {message}"):
        read_star(path)


def test_largest_sane_values_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.star"
    path.write_text(
        "data_\nloop_\n_rlnPixelSize\n_rlnDefocus\n_rlnVoltage\n_rlnSphericalAberration\n"
        "_rlnNumberSubtomo\n1000 1e6 3000 100 1000000\n"
    )
    row = read_star(path).rows[0]
    assert (row.pixel_size_angstrom, row.cs_mm, row.number_subtomos) == (1000, 100, 1_000_000)


def test_column_listed_twice_refused(tmp_path: Path) -> None:
    lines = REFERENCE.strip().splitlines()
    lines.insert(lines.index("_rlnTiltMax #14"), "_rlnTiltMin #14")
    lines = [line.replace("_rlnTiltMax #14", "_rlnTiltMax #15") for line in lines]
    path = tmp_path / "dup.star"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_star(path)
    assert str(info.value) == f"{path}: column rlnTiltMin appears twice (#13 and #14); remove one"


@pytest.mark.parametrize(
    ("half1", "half2"),
    [("EVN/a.mrc", "EVN/a.mrc"), ("EVN/a.mrc", "EVN/./a.mrc"), ("./x/../EVN/a.mrc", "EVN/a.mrc")],
)
def test_identical_halves_refused(tmp_path: Path, half1: str, half2: str) -> None:
    path = tmp_path / "t.star"
    path.write_text(
        "data_\nloop_\n_rlnPixelSize\n_rlnTomoReconstructedTomogramHalf1\n"
        f"_rlnTomoReconstructedTomogramHalf2\n10 EVN/b.mrc ODD/b.mrc\n10 {half1} {half2}\n"
    )
    with pytest.raises(InputError) as info:
        read_star(path)
    message = str(info.value)
    assert message.startswith(
        f"{path}: row 2, columns rlnTomoReconstructedTomogramHalf1 and "
        "rlnTomoReconstructedTomogramHalf2: both name"
    )
    assert "two different tomograms" in message and "\n" not in message


def test_a_rewrite_removes_the_temps_a_killed_writer_left_but_not_a_fresh_one(
    tmp_path: Path,
) -> None:
    import os
    import time

    star = tmp_path / "tomograms.star"
    old = tmp_path / ".tomograms.star.ab12cd34.tmp"  # a kill mid-rewrite, 5 minutes ago
    fresh = tmp_path / ".tomograms.star.zz98yy76.tmp"  # another process writing it now
    other = tmp_path / ".other.star.ab12cd34.tmp"  # another star's: not this writer's
    for temp in (old, fresh, other):
        temp.write_text("data_\n")
    then = time.time() - 300
    os.utime(old, (then, then))
    os.utime(other, (then, then))
    write_star(StarTable(rows=[TomogramRow(index=1, tomogram_path="a.mrc")]), star)
    assert read_star(star).rows[0].tomogram_path == "a.mrc"
    assert not old.exists() and fresh.exists() and other.exists()


def test_rows_without_an_index_column_are_numbered_from_one(tmp_path: Path) -> None:
    star = tmp_path / "t.star"
    star.write_text("data_\n\nloop_\n_rlnTomoName #1\n_rlnPixelSize #2\na.mrc 10\nb.mrc 10\n")
    assert [row.index for row in read_star(star).rows] == [1, 2]


def test_a_defocus_given_in_microns_is_flagged_across_the_whole_range() -> None:
    for microns in (0.5, 3.5, 15.0, 60.0):
        said = defocus_in_microns([TomogramRow(index=1, defocus_angstrom=microns)])
        assert said is not None and "looks like µm" in said, microns
    assert defocus_in_microns([TomogramRow(index=1, defocus_angstrom=15000.0)]) is None
    assert defocus_in_microns([TomogramRow(index=1, defocus_angstrom=0.0)]) is None
