"""Prediction shared by data-parallel ranks: Z slabs of every output, one file per output.

Example:
    slabs = share_slabs([(depth, y * x * n_sources) for each output], context.world_size)
    with shared_outputs([(path, info) for each output], context) as maps:
        for out, slab in zip(maps, slabs):
            predictor.predict_into(out, sources, filters, z_range=slab[context.rank])

The outputs are laid end to end, Z slice by Z slice, and cut into one run of near-equal work
per rank: with many tomograms each rank predicts whole ones, a single large one is split into
one Z slab per rank. Every rank predicts all the tiles touching its slab and writes only its
slab, so overlapping tiles are blended without two ranks ever writing one voxel. No rank
keeps a file of its own: rank 0 creates each output (a temp file beside it, as `new_volume`
does), every rank writes into the same memory-mapped file, and once all ranks are done rank 0
alone completes the headers and renames the files. Any failure leaves no output behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch.distributed as dist

from isonet2.io.mrc import VolumeInfo, new_volume
from isonet2.train.distributed import DistributedContext

logger = logging.getLogger(__name__)

Slab = tuple[int, int]  # Z slices [start, stop) of one output; start == stop: none


def share_slabs(outputs: Sequence[tuple[int, int]], world_size: int) -> list[list[Slab]]:
    """Each rank's slab of every output: result[output][rank] = (z_start, z_stop).

    `outputs` are (depth, work per Z slice) pairs, e.g. (z, y * x * sources). The slabs of
    one output are contiguous, ordered by rank, and cover [0, depth) exactly once; every rank
    gets about 1 / world_size of the total work.
    """
    total = sum(depth * work for depth, work in outputs)
    cuts = [total * rank // world_size for rank in range(world_size + 1)]
    slabs, offset = [], 0
    for depth, work in outputs:
        bounds = [min(max((cut - offset + work // 2) // work, 0), depth) for cut in cuts]
        slabs.append(list(pairwise(bounds)))
        offset += depth * work
    return slabs


@contextmanager
def shared_outputs(
    targets: Sequence[tuple[Path, VolumeInfo]], context: DistributedContext
) -> Iterator[list[np.ndarray]]:
    """Writable (z, y, x) float32 memory maps of every target path, the same files on all ranks.

    Each output gets the shape, voxel size and origin of its VolumeInfo. The files appear
    under their names (atomically) only when every rank has left the block without an error.
    """
    with ExitStack() as stack:
        maps: list[np.ndarray] = []
        if context.is_main:
            maps = [
                stack.enter_context(
                    new_volume(
                        path,
                        info.shape,
                        voxel_size_angstrom=info.voxel_size_angstrom,
                        origin_angstrom=info.origin_angstrom,
                    )
                )
                for path, info in targets
            ]
        where = [[(m.filename, m.offset, m.dtype.str) for m in maps]]  # type: ignore[attr-defined]
        dist.broadcast_object_list(where, src=0)  # rank 0's temp files, to the other ranks
        if not context.is_main:
            maps = [
                np.memmap(name, dtype=np.dtype(dtype), mode="r+", offset=offset, shape=info.shape)
                for (name, offset, dtype), (_, info) in zip(where[0], targets, strict=True)
            ]
        yield maps
        for out in maps:
            out.flush()  # type: ignore[attr-defined]
        dist.barrier()  # every rank's slabs are written before rank 0 completes the files
