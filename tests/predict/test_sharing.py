"""Sharing prediction among ranks: every output's Z slices cut once, the work split evenly."""

from __future__ import annotations

import pytest

from isonet2.predict.sharing import share_slabs


@pytest.mark.parametrize(
    ("outputs", "world_size"),
    [
        ([(48, 10)], 2),
        ([(48, 10)], 8),
        ([(5, 100)], 8),  # more ranks than slices: some get nothing
        ([(48, 4608), (48, 4608), (19, 1296)], 2),
        ([(40, 7), (13, 50), (1, 3), (90, 2)], 3),
        ([(30, 9)] * 12, 4),
    ],
)
def test_slabs_cover_each_output_once_and_balance_the_work(
    outputs: list[tuple[int, int]], world_size: int
) -> None:
    slabs = share_slabs(outputs, world_size)
    work = [0] * world_size
    for (depth, per_slice), ranks in zip(outputs, slabs, strict=True):
        assert len(ranks) == world_size
        assert ranks[0][0] == 0 and ranks[-1][1] == depth
        for rank, (start, stop) in enumerate(ranks):
            assert start <= stop
            if rank:
                assert start == ranks[rank - 1][1]  # contiguous, in rank order
            work[rank] += (stop - start) * per_slice
    total = sum(depth * per_slice for depth, per_slice in outputs)
    largest_slice = max(per_slice for _, per_slice in outputs)
    assert all(abs(share - total / world_size) <= largest_slice for share in work)


def test_many_outputs_go_whole_and_a_single_one_in_slabs() -> None:
    whole = share_slabs([(30, 9)] * 4, 2)
    assert whole == [[(0, 30), (30, 30)]] * 2 + [[(0, 0), (0, 30)]] * 2
    assert share_slabs([(50, 9)], 4) == [[(0, 12), (12, 25), (25, 37), (37, 50)]]
