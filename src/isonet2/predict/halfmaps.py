"""Independent half maps of a split_halves pair: one network on the even half, the other on odd.

Example:
    first, second = independent_half_maps(predictors, sources, filters, max_side=256)
    freq, fsc = fourier_shell_correlation(torch.from_numpy(first), torch.from_numpy(second))

`refine --split_halves` trains two networks on disjoint subtomograms (top and bottom of each
tomogram). Their two full maps are both predicted from the same even and odd halves, so the
noise of those halves reaches both maps and their FSC measures how far the networks agree,
not a resolution. The first network predicting the even half and the second the odd half
share neither training data nor input noise: the gold-standard pair, as single-particle work
compares two half maps. Only the central crop the FSC reads is predicted (with a margin of
half a tile of real data around it, so the tiles at its border do not see a mirrored edge),
one half at a time: at most a few hundred MB of host memory beside the maps themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from isonet2.predict.predictor import Source, TileFilters, TilePredictor


def crop_bounds(shape: Sequence[int], max_side: int) -> list[tuple[int, int]]:
    """(start, stop) per axis of the central block of at most `max_side` voxels (the block
    `isonet2.evaluate.central_crop` takes, so both FSCs of a pair read the same voxels)."""
    bounds = []
    for n in shape:
        start = max(0, (n - max_side) // 2)
        bounds.append((start, min(n, start + max_side)))
    return bounds


def independent_half_maps(
    predictors: Sequence[TilePredictor],
    sources: Sequence[Source],
    filters: TileFilters | None,
    max_side: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The central crops of predictors[0] on sources[0] and predictors[1] on sources[1]."""
    if len(predictors) != 2 or len(sources) != 2:
        raise ValueError("need two predictors and two sources (even and odd halves)")
    shape = sources[0][0].shape
    inner = crop_bounds(shape, max_side)
    margin = predictors[0].cube // 2
    outer = [
        (max(0, a - margin), min(n, b + margin)) for (a, b), n in zip(inner, shape, strict=True)
    ]
    read = tuple(slice(a, b) for a, b in outer)
    keep = tuple(slice(a - o, b - o) for (a, b), (o, _) in zip(inner, outer, strict=True))
    maps = []
    for predictor, (volume, stats) in zip(predictors, sources, strict=True):
        block = np.ascontiguousarray(volume[read], dtype=np.float32)
        out = np.zeros(block.shape, dtype=np.float32)
        predictor.predict_into(out, [(block, stats)], filters)
        del block
        maps.append(np.ascontiguousarray(out[keep]))
    return maps[0], maps[1]
