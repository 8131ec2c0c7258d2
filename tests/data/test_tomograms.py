"""Opening star rows: stats once, physics carried over, coordinates fitted, one-line errors."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from isonet2.data.tomograms import open_tomogram_set
from isonet2.errors import InputError
from isonet2.io.mrc import read_volume
from isonet2.io.star import TomogramRow


def test_halves_open_with_stats_and_physics(halves_row: Callable[..., TomogramRow]) -> None:
    row = halves_row(index=3, shape=(16, 24, 20))
    tomogram = open_tomogram_set([row], source="halves", cube_size=8)[0]
    even, odd = tomogram.halves
    assert (tomogram.index, tomogram.name, tomogram.shape) == (3, "TS_03_EVN", (16, 24, 20))
    assert str(even.path) == row.half1_path and str(odd.path) == row.half2_path
    for volume, (mean, std) in zip(tomogram.volumes, tomogram.stats, strict=True):
        data = read_volume(volume.path).astype(np.float64)  # Z < 60: every slice counts
        assert mean == pytest.approx(data.mean()) and std == pytest.approx(data.std())
    assert (tomogram.tilt_min_deg, tomogram.tilt_max_deg) == (-50.0, 65.0)
    assert tomogram.pixel_size_angstrom == 5.4 and tomogram.defocus_angstrom == 30000.0
    assert (tomogram.voltage_kv, tomogram.cs_mm, tomogram.amplitude_contrast) == (300, 2.7, 0.1)
    assert tomogram.mask is None and tomogram.coordinates_zyx is None


def test_single_reads_input_column_or_deconv_else_tomo_name(
    tmp_path: Path,
    make_mrc: Callable[..., Path],
    halves_row: Callable[..., TomogramRow],
    caplog: pytest.LogCaptureFixture,
) -> None:
    full = make_mrc(tmp_path / "full.mrc", (10, 12, 12))
    deconv = make_mrc(tmp_path / "deconv.mrc", (10, 12, 12), seed=1)
    row = TomogramRow(index=1, tomogram_path=str(full), deconv_path=str(deconv))
    chosen = open_tomogram_set([row], source="single", input_column="rlnTomoName", cube_size=8)[0]
    assert [v.path for v in chosen.volumes] == [full] and chosen.column == "rlnTomoName"
    # by default a row's deconvolved map, else its full map: what predict and the previews
    # read by default (rlnTomoName here left the tutorial's deconv step out of training)
    no_deconv = TomogramRow(index=2, tomogram_path=str(full))
    caplog.set_level(logging.INFO, logger="isonet2")
    plain, other = open_tomogram_set([row, no_deconv], source="single", cube_size=8)
    assert [v.path for v in plain.volumes] == [deconv] and plain.column == "rlnDeconvTomoName"
    assert [v.path for v in other.volumes] == [full] and other.column == "rlnTomoName"
    assert "single maps from rlnDeconvTomoName (1 row), rlnTomoName (1 row)" in caplog.text
    halves = open_tomogram_set([halves_row(shape=(16, 32, 32))], source="halves", cube_size=8)
    assert halves[0].column == ""
    with pytest.raises(ValueError):
        _ = chosen.halves
    empty = TomogramRow(index=2, tomogram_path=str(full))
    with pytest.raises(InputError, match="row 2 has no rlnDeconvTomoName"):
        open_tomogram_set([empty], source="single", input_column="rlnDeconvTomoName", cube_size=8)


def test_volumes_pickle_as_paths(halves_row: Callable[..., TomogramRow]) -> None:
    tomoset = open_tomogram_set([halves_row(shape=(16, 32, 32))], source="halves", cube_size=8)
    even = tomoset[0].halves[0]
    cube = even.crop((1, 2, 3), 8)
    payload = pickle.dumps(tomoset)
    assert len(payload) < 16 * 32 * 32  # no voxel data travels
    copy = pickle.loads(payload)
    np.testing.assert_array_equal(copy[0].halves[0].crop((1, 2, 3), 8), cube)
    assert cube.dtype == np.float32 and cube.shape == (8, 8, 8)


def test_box_coordinates_become_fitted_zyx_centres(
    tmp_path: Path, halves_row: Callable[..., TomogramRow], caplog: pytest.LogCaptureFixture
) -> None:
    row = halves_row(shape=(16, 24, 20))
    box = tmp_path / "TS_01.coords"
    box.write_text("# x y z\n10 12 8\n0 23 15\n\n19.4 5 1\n")
    row.box_file = str(box)
    with caplog.at_level(logging.WARNING):
        tomogram = open_tomogram_set([row], source="halves", cube_size=8)[0]
    assert tomogram.coordinates_zyx is not None
    # valid centres per axis: 4 .. N - 4 (z 4..12, y 4..20, x 4..16)
    assert tomogram.coordinates_zyx.tolist() == [[8, 12, 10], [12, 20, 4], [4, 5, 16]]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 of 3" in warnings[0].getMessage()


def test_box_point_outside_tomogram(tmp_path: Path, halves_row: Callable[..., TomogramRow]) -> None:
    row = halves_row(shape=(16, 24, 20))
    row.box_file = str(tmp_path / "b.txt")
    Path(row.box_file).write_text("5 5 5\n20 5 5\n")
    with pytest.raises(InputError, match=r"b\.txt:2: .*outside"):
        open_tomogram_set([row], source="halves", cube_size=8)


def test_missing_file_names_column_and_path(halves_row: Callable[..., TomogramRow]) -> None:
    row = halves_row()
    Path(str(row.half2_path)).unlink()
    with pytest.raises(InputError) as error:
        open_tomogram_set([row], source="halves", cube_size=8)
    message = str(error.value)
    assert "rlnTomoReconstructedTomogramHalf2" in message and str(row.half2_path) in message
    assert "\n" not in message


def test_halves_of_different_shapes(
    tmp_path: Path, halves_row: Callable[..., TomogramRow], make_mrc: Callable[..., Path]
) -> None:
    row = halves_row(shape=(16, 24, 24))
    make_mrc(Path(str(row.half2_path)), (16, 24, 20))
    with pytest.raises(InputError, match=r"TS_01_ODD\.mrc: shape \(16, 24, 20\) differs"):
        open_tomogram_set([row], source="halves", cube_size=8)


def test_missing_halves_for_source_halves(tmp_path: Path, make_mrc: Callable[..., Path]) -> None:
    row = TomogramRow(index=3, tomogram_path=str(make_mrc(tmp_path / "t.mrc")))
    with pytest.raises(InputError, match=r"row 3 has no even/odd halves .*use method isonet2"):
        open_tomogram_set([row], source="halves", cube_size=8)


def test_tomogram_smaller_than_cube(halves_row: Callable[..., TomogramRow]) -> None:
    row = halves_row(shape=(6, 24, 24))
    with pytest.raises(InputError) as error:
        open_tomogram_set([row], source="halves", cube_size=8)
    message = str(error.value)
    assert "TS_01_EVN.mrc: shape (6, 24, 24)" in message and "8³" in message
    assert "--cube_size" in message


def test_mask_shape_must_match(halves_row: Callable[..., TomogramRow]) -> None:
    row = halves_row(shape=(16, 24, 24), mask=np.ones((16, 24, 20), dtype=np.int8))
    with pytest.raises(InputError, match=r"TS_01_mask\.mrc: mask shape \(16, 24, 20\) differs"):
        open_tomogram_set([row], source="halves", cube_size=8)


def test_constant_volume_is_rejected(
    tmp_path: Path, array_mrc: Callable[[Path, np.ndarray], Path]
) -> None:
    flat = array_mrc(tmp_path / "flat.mrc", np.ones((10, 12, 12), dtype=np.float32))
    row = TomogramRow(index=1, tomogram_path=str(flat))
    with pytest.raises(InputError, match=r"flat\.mrc: central slab"):
        open_tomogram_set([row], source="single", cube_size=8)


def test_a_row_with_zero_subtomograms_is_refused(halves_row: Callable[..., TomogramRow]) -> None:
    row = halves_row(number_subtomos=0)
    with pytest.raises(InputError, match="rlnNumberSubtomo is 0"):
        open_tomogram_set([row], source="halves", cube_size=8)
