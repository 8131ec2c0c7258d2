"""Coordinate files: centres read in order, every bad file refused with its name and line."""

from pathlib import Path

import pytest

from isonet2.errors import InputError
from isonet2.io.coordinates import read_coordinates


def test_coordinates_in_file_order_with_comments_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.coords"
    path.write_text("# x y z\n10 12 8 0.9\n\n  1.5 2 3\n")
    assert read_coordinates(path) == [(2, (10.0, 12.0, 8.0)), (4, (1.5, 2.0, 3.0))]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"1 2 3\nnan 10 10\n", r"t.coords:2: 'nan 10 10' is not three finite coordinates"),
        (b"1 2 3\n4 inf 6\n", r"t.coords:2: '4 inf 6' is not three finite"),
        (b"1 2 1e400\n", r"t.coords:1: '1 2 1e400' is not three finite"),
        (b"1 2\n", r"t.coords:1: expected 'x y z' coordinates, found '1 2'"),
        (b"1,2,3\n", r"t.coords:1: expected 'x y z' coordinates"),
        (b"# only a comment\n\n", r"t.coords: no coordinates"),
        (b"MAP \xe9\xff\x00\x01 1 2\n", r"t.coords: not a text file of 'x y z' coordinates"),
    ],
)
def test_bad_coordinate_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "t.coords"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_coordinates(path)
    assert "\n" not in str(info.value)
