"""Tiling: weights sum to one over every voxel, tiles mirror-pad, blending is exactly invertible."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from isonet2.predict.tiling import TileGrid, read_tile


def blend(volume: np.ndarray, grid: TileGrid) -> np.ndarray:
    """Cut tiles and add them back with their weights (an identity network)."""
    out = np.zeros(volume.shape, np.float64)
    ranges = [range(len(s)) for s in grid.starts]
    for index in itertools.product(*ranges):
        start = tuple(int(grid.starts[a][i]) for a, i in enumerate(index))
        tile = read_tile(volume, start, grid.cube) * grid.weight_cube(index)
        lo = [max(s, 0) for s in start]
        hi = [min(s + grid.cube, n) for s, n in zip(start, volume.shape, strict=True)]
        out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] += tile[
            lo[0] - start[0] : hi[0] - start[0],
            lo[1] - start[1] : hi[1] - start[1],
            lo[2] - start[2] : hi[2] - start[2],
        ]
    return out


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 90),
    cube=st.sampled_from([8, 16, 32]),
    padding=st.floats(1.0, 3.0),
)
def test_axis_weights_sum_to_one(length: int, cube: int, padding: float) -> None:
    grid = TileGrid.for_volume((length, 1, 1), cube, padding)
    np.testing.assert_allclose(_column_sums(grid, length), 1.0, rtol=1e-12)
    assert all(np.all(w >= 0) for w in grid.weights)


def _column_sums(grid: TileGrid, length: int) -> np.ndarray:
    total = np.zeros(length)
    for start, w in zip(grid.starts[0], grid.weights[0], strict=True):
        for t in range(grid.cube):
            if 0 <= start + t < length:
                total[start + t] += w[t]
    return total


@settings(max_examples=12, deadline=None)
@given(
    shape=st.tuples(st.integers(5, 29), st.integers(5, 29), st.integers(5, 29)),
    padding=st.sampled_from([1.0, 1.5, 2.0]),
)
def test_identity_blend_returns_the_input_on_odd_shapes(
    shape: tuple[int, int, int], padding: float
) -> None:
    volume = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    grid = TileGrid.for_volume(shape, 16, padding)
    np.testing.assert_allclose(blend(volume, grid), volume, atol=1e-5)


def test_tiles_cover_the_volume_with_overlap() -> None:
    grid = TileGrid.for_volume((160, 400, 401), 96, 1.5)
    assert grid.stride == 64
    for starts, n in zip(grid.starts, (160, 400, 401), strict=True):
        assert starts[0] < 0 and starts[-1] + 96 >= n
        assert np.all(np.diff(starts) == 64)


def test_read_tile_mirrors_outside_the_volume() -> None:
    volume = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    tile = read_tile(volume, (-2, 0, 3), 6)
    assert tile.shape == (6, 6, 6)
    np.testing.assert_array_equal(tile[2:6, :, :4], volume[:4, :, 3:7])
    np.testing.assert_array_equal(tile[1, :, :4], volume[0, :, 3:])  # z = -1 mirrors z = 0
    np.testing.assert_array_equal(tile[0, :, :4], volume[1, :, 3:])  # z = -2 mirrors z = 1
    small = read_tile(volume, (-4, -4, -4), 16)  # a tile larger than the volume
    assert small.shape == (16, 16, 16)
    np.testing.assert_array_equal(small[4:9, 4:10, 4:11], volume)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 60),
    cube=st.sampled_from([8, 16]),
    padding=st.floats(1.0, 3.0),
    bounds=st.tuples(st.integers(0, 60), st.integers(0, 60)),
)
def test_rows_touching_a_slab_are_the_rows_writing_into_it(
    length: int, cube: int, padding: float, bounds: tuple[int, int]
) -> None:
    grid = TileGrid.for_volume((length, 4, 4), cube, padding)
    z_start, z_stop = min(bounds), min(max(bounds), length)
    written = [
        row
        for row, start in enumerate(grid.starts[0])
        if set(range(max(start, 0), min(start + cube, length))) & set(range(z_start, z_stop))
    ]
    assert list(grid.rows_touching(z_start, z_stop)) == written
    if z_start < z_stop:  # contiguous rows, and all of them for the whole volume
        assert list(grid.rows_touching(0, length)) == list(range(len(grid.starts[0])))


def test_a_nan_in_a_tile_is_named_in_volume_coordinates() -> None:
    """Tiles overhanging the edge are mirrored: the voxel named is the volume's, not the tile's."""
    import pytest

    from isonet2.errors import InputError

    volume = np.zeros((20, 20, 20), np.float32)
    volume[2, 3, 4] = np.nan
    with pytest.raises(InputError, match=r"voxel \(z, y, x\) = \(2, 3, 4\) is nan"):
        read_tile(volume, (-6, -6, 0), 16)
    read_tile(volume, (4, 4, 4), 16)  # a tile without it is read as usual
