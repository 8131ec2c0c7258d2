"""Cube centres: always inside volume and mask, uniform, reproducible, split across ranks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isonet2.data.sampler import MAX_CELLS, SubtomogramSampler, centre_pool
from isonet2.data.tomograms import TomogramSet, open_tomogram_set
from isonet2.errors import InputError
from isonet2.io.star import TomogramRow

RowMaker = Callable[..., TomogramRow]


def _open(rows: list[TomogramRow], cube: int = 8) -> TomogramSet:
    return open_tomogram_set(rows, source="halves", cube_size=cube)


def _write(path: Path, data: np.ndarray) -> str:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
    return str(path)


def _valid(mask: np.ndarray | None, shape: tuple[int, ...], cube: int, y_half: str | None):
    """Brute-force (z, y, x) boolean map of valid centres, straight from the definition."""
    half = cube // 2
    valid = np.ones(shape, dtype=bool) if mask is None else mask != 0
    for axis, size in enumerate(shape):
        index = np.arange(size)
        fits = (index - half >= 0) & (index - half + cube <= size)
        if axis == 1 and y_half == "top":
            fits &= index - half + cube <= size // 2
        if axis == 1 and y_half == "bottom":
            fits &= index - half >= size // 2
        valid &= fits.reshape([-1 if a == axis else 1 for a in range(3)])
    return valid


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cube=st.sampled_from([4, 5, 8]),
    grow=st.tuples(*[st.integers(0, 10)] * 3),
    density=st.sampled_from([0.0, 0.002, 0.05, 0.5, 1.0, -1.0]),
    y_half=st.sampled_from([None, "top", "bottom"]),
    max_cells=st.sampled_from([1, 8, 64, MAX_CELLS]),
    seed=st.integers(0, 2**16),
)
def test_centres_never_leave_volume_or_mask(
    tmp_path_factory: pytest.TempPathFactory,
    cube: int,
    grow: tuple[int, int, int],
    density: float,
    y_half: str | None,
    max_cells: int,
    seed: int,
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    shape = tuple(cube + g for g in grow)
    rng = np.random.default_rng(seed)
    mask = None if density < 0 else (rng.random(shape) < density).astype(np.int8)
    row = TomogramRow(
        index=1,
        half1_path=_write(folder / "e.mrc", rng.standard_normal(shape).astype(np.float32)),
        half2_path=_write(folder / "o.mrc", rng.standard_normal(shape).astype(np.float32)),
        mask_path=None if mask is None else _write(folder / "m.mrc", mask),
        number_subtomos=60,
    )
    tomogram = _open([row], cube)[0]
    valid = _valid(mask, shape, cube, y_half)
    if not valid.any():
        with pytest.raises(InputError):
            centre_pool(tomogram, cube, y_half=y_half, max_cells=max_cells)  # type: ignore[arg-type]
        return
    pool = centre_pool(tomogram, cube, y_half=y_half, max_cells=max_cells)  # type: ignore[arg-type]
    centres = pool.draw(60, np.random.default_rng(seed))
    assert centres.shape == (60, 3) and centres.dtype == np.int64
    assert valid[tuple(centres.T)].all()
    corners = centres - cube // 2
    assert (corners >= 0).all() and (corners + cube <= np.asarray(shape)).all()


def test_draws_are_uniform_over_mask_voxels_not_cells(tmp_path: Path, halves_row: RowMaker) -> None:
    shape = (12, 40, 40)
    z, y, x = np.indices(shape)
    mask = ((x < 20) | ((z + y + x) % 4 == 0)).astype(np.int8)  # dense left, 1/4 right
    tomogram = _open([halves_row(shape=shape, mask=mask)], cube=4)[0]
    pool = centre_pool(tomogram, 4, max_cells=8)
    assert pool.stride > 4
    valid = _valid(mask, shape, 4, None)
    expected_left = valid[..., :20].sum() / valid.sum()
    centres = pool.draw(4000, np.random.default_rng(1))
    assert valid[tuple(centres.T)].all()
    assert np.mean(centres[:, 2] < 20) == pytest.approx(expected_left, abs=0.03)


def test_ranks_partition_the_epoch(halves_row: RowMaker) -> None:
    tomoset = _open([halves_row(1, number_subtomos=7), halves_row(2, number_subtomos=6)])
    full = SubtomogramSampler(tomoset, 8, seed=5).centres(3)
    assert np.bincount(full[:, 0]).tolist() == [7, 6]
    ranks = [SubtomogramSampler(tomoset, 8, seed=5, rank=r, world_size=3) for r in range(3)]
    parts = [sampler.centres(3) for sampler in ranks]
    assert [len(p) for p in parts] == [4, 4, 4] and all(len(s) == 4 for s in ranks)
    interleaved = np.stack(parts, axis=1).reshape(-1, 4)
    np.testing.assert_array_equal(interleaved, full[:12])
    with pytest.raises(InputError, match="fewer than the 20 processes"):
        SubtomogramSampler(tomoset, 8, seed=5, rank=0, world_size=20)


def test_epochs_reproducible_and_fresh(halves_row: RowMaker) -> None:
    tomoset = _open([halves_row(1, shape=(16, 32, 32), number_subtomos=20)])
    first = SubtomogramSampler(tomoset, 8, seed=0)
    again = SubtomogramSampler(tomoset, 8, seed=0)
    np.testing.assert_array_equal(first.centres(4), again.centres(4))
    assert not np.array_equal(first.centres(4), first.centres(5))
    assert not np.array_equal(first.centres(4), SubtomogramSampler(tomoset, 8, seed=1).centres(4))


def test_box_coordinates_are_the_centres(tmp_path: Path, halves_row: RowMaker) -> None:
    coords_xyz = [(5, 6, 7), (10, 12, 8), (15, 18, 9)]
    box = tmp_path / "TS_01.txt"
    box.write_text("".join(f"{x} {y} {z}\n" for x, y, z in coords_xyz))
    row = halves_row(shape=(16, 24, 24), number_subtomos=7)
    row.box_file = str(box)
    other = halves_row(2, number_subtomos=5)
    sampler = SubtomogramSampler(_open([row, other]), 8, seed=0)
    expected = {(z, y, x) for x, y, z in coords_xyz}
    orders = []
    for epoch in range(3):
        centres = sampler.centres(epoch)
        boxed = [tuple(c) for c in centres[centres[:, 0] == 0, 1:].tolist()]
        assert len(boxed) == 7 and set(boxed) == expected
        assert sorted(Counter(boxed).values()) == [2, 2, 3]
        orders.append(boxed)
    assert orders[0] != orders[1] or orders[1] != orders[2]


def test_y_halves_are_disjoint(tmp_path: Path, halves_row: RowMaker) -> None:
    cube, shape = 8, (16, 40, 24)
    tomoset = _open([halves_row(shape=shape, number_subtomos=200)], cube)
    top = SubtomogramSampler(tomoset, cube, seed=0, y_half="top").centres(0)
    bottom = SubtomogramSampler(tomoset, cube, seed=0, y_half="bottom").centres(0)
    top_end = (top[:, 2] - cube // 2 + cube).max()
    bottom_start = (bottom[:, 2] - cube // 2).min()
    assert top_end <= shape[1] // 2 <= bottom_start
    mask = np.zeros(shape, dtype=np.int8)
    mask[:, :20] = 1
    masked = _open([halves_row(2, shape=shape, mask=mask)], cube)
    SubtomogramSampler(masked, cube, seed=0, y_half="top")
    with pytest.raises(InputError, match=r"TS_02_mask\.mrc: .*bottom half"):
        SubtomogramSampler(masked, cube, seed=0, y_half="bottom")
    small = _open([halves_row(3, shape=(16, 12, 24))], cube)
    with pytest.raises(InputError, match="split_halves"):
        SubtomogramSampler(small, cube, seed=0, y_half="top")


def test_mask_without_valid_centre_names_mask(halves_row: RowMaker) -> None:
    shape = (16, 24, 24)
    mask = np.ones(shape, dtype=np.int8)
    mask[3:-3, 3:-3, 3:-3] = 0  # only a 3-voxel shell, closer than cube//2 = 4 to the faces
    tomoset = _open([halves_row(shape=shape, mask=mask)])
    with pytest.raises(InputError, match=r"TS_01_mask\.mrc: no masked voxel"):
        SubtomogramSampler(tomoset, 8, seed=0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (-0.5, r"TS_01_mask\.mrc: holds negative values \(down to -0\.5 in Z slice 7\)"),
        (np.nan, r"TS_01_mask\.mrc: voxel \(z, y, x\) = \(7, 9, 10\) is nan"),
    ],
)
@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_a_mask_that_is_not_a_mask_is_refused(
    halves_row: RowMaker, bad: float, message: str
) -> None:
    """A tomogram named as the mask (negative values) or a broken one (NaN) marked nearly every
    voxel as maskable, silently."""
    shape = (16, 24, 24)
    mask = np.ones(shape, dtype=np.float32)
    mask[7, 9, 10] = bad
    tomoset = _open([halves_row(shape=shape, mask=mask)])
    with pytest.raises(InputError, match=message):
        SubtomogramSampler(tomoset, 8, seed=0)


SmpRowMaker = Callable[..., TomogramRow]


def test_every_valid_centre_is_drawn_with_and_without_a_mask(halves_row: SmpRowMaker) -> None:
    """A (10, 10, 10) volume and 8³ cubes: centres 4..6 on each axis, 27 in all; the highest
    one (6) must be reachable too, from the box draw and from the masked cell draw."""
    shape = (10, 10, 10)
    expected = {(z, y, x) for z in range(4, 7) for y in range(4, 7) for x in range(4, 7)}
    rows = [halves_row(1, shape=shape), halves_row(2, shape=shape, mask=np.ones(shape, np.int8))]
    for tomogram in open_tomogram_set(rows, source="halves", cube_size=8).tomograms:
        pool = centre_pool(tomogram, 8)
        drawn = {tuple(c) for c in pool.draw(3000, np.random.default_rng(0)).tolist()}
        assert drawn == expected, tomogram.mask


def test_each_epoch_draws_other_centres_not_a_reshuffle(halves_row: SmpRowMaker) -> None:
    tomoset = open_tomogram_set(
        [halves_row(1, shape=(16, 32, 32), number_subtomos=30)], source="halves", cube_size=8
    )
    sampler = SubtomogramSampler(tomoset, 8, seed=0)
    first = {tuple(c) for c in sampler.centres(0).tolist()}
    second = {tuple(c) for c in sampler.centres(1).tolist()}
    assert len(first & second) < len(first) // 2


def test_an_epoch_mixes_the_tomograms(halves_row: SmpRowMaker) -> None:
    """Batches take consecutive centres: an epoch ordered by tomogram would put one tomogram
    in each batch."""
    tomoset = open_tomogram_set(
        [halves_row(1, number_subtomos=50), halves_row(2, number_subtomos=50)],
        source="halves",
        cube_size=8,
    )
    order = SubtomogramSampler(tomoset, 8, seed=0).centres(0)[:, 0]
    assert 10 < int((order[:50] == 1).sum()) < 40
    assert int((np.diff(order) != 0).sum()) > 20  # many switches between tomograms


def test_box_coordinates_are_kept_only_in_their_y_half(
    tmp_path: Path, halves_row: SmpRowMaker
) -> None:
    shape, cube = (16, 40, 24), 8
    box = tmp_path / "coords.txt"
    # x y z per line: y = 6 and 10 lie in the top half (cube ends by 20), 26 and 33 in the bottom
    box.write_text("10 6 8\n12 10 8\n10 26 8\n12 33 8\n")
    row = halves_row(shape=shape, number_subtomos=20)
    row.box_file = str(box)
    tomoset = open_tomogram_set([row], source="halves", cube_size=cube)
    middle = shape[1] // 2
    top = SubtomogramSampler(tomoset, cube, seed=0, y_half="top").centres(0)
    bottom = SubtomogramSampler(tomoset, cube, seed=0, y_half="bottom").centres(0)
    assert (top[:, 2] - cube // 2 + cube <= middle).all()
    assert (bottom[:, 2] - cube // 2 >= middle).all()
    assert set(top[:, 2].tolist()) == {6, 10} and set(bottom[:, 2].tolist()) == {26, 33}
