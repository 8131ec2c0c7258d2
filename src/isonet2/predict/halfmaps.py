"""Independent half maps of a split_halves pair: even and odd, each region by the other network.

Example:
    even, odd = independent_half_maps(predictors, sources, filters, 256, ("top", "bottom"))
    freq, fsc = fourier_shell_correlation(torch.from_numpy(even), torch.from_numpy(odd))

`refine --split_halves` trains two networks on disjoint subtomograms (top and bottom of each
tomogram). Their two full maps are both predicted from the same even and odd halves, so the
noise of those halves reaches both maps and their FSC measures how far the networks agree,
not a resolution. The even and the odd half predicted, in each Y half of the tomogram, by
the network that did not train on it share neither training data nor input noise: the
gold-standard pair, as single-particle work compares two half maps. Only the central crop
the FSC reads is predicted (with a margin of half a tile of real data around it, so the
tiles at its border do not see a mirrored edge), one block at a time: a few hundred MB of
host memory at most beside the maps themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from isonet2.fourier.fsc import central_bounds
from isonet2.io.pages import release_pages
from isonet2.predict.predictor import Source, TileFilters, TilePredictor


def independent_half_maps(
    predictors: Sequence[TilePredictor],
    sources: Sequence[Source],
    filters: TileFilters | None,
    max_side: int,
    trained_on: Sequence[str | None] = (None, None),
) -> tuple[np.ndarray, np.ndarray]:
    """Two half maps of the central crop that share neither input noise nor training data.

    With `trained_on` ("top", "bottom" in either order: the Y half each network trained on,
    split at Y // 2), each half is predicted, in each Y half of the crop, by the network
    that never trained there: a network's weights may hold traces of the noise of the cubes
    it learned from, its own half's even and odd. Otherwise predictors[0] predicts
    sources[0] (even) and predictors[1] sources[1] (odd).
    """
    if len(predictors) != 2 or len(sources) != 2:
        raise ValueError("need two predictors and two sources (even and odd halves)")
    shape = sources[0][0].shape
    inner = central_bounds(shape, max_side)  # the block evaluate's FSC reads
    if set(trained_on) != {"top", "bottom"}:
        return tuple(  # type: ignore[return-value]
            _predict_block(p, source, filters, inner)
            for p, source in zip(predictors, sources, strict=True)
        )
    middle = shape[1] // 2  # top cubes lie below it, bottom cubes at or above it
    (y0, y1) = inner[1]
    parts = [  # (Y range of the crop, the network that did not train there)
        ((y0, min(y1, middle)), predictors[trained_on.index("bottom")]),
        ((max(y0, middle), y1), predictors[trained_on.index("top")]),
    ]
    maps = []
    for source in sources:
        blocks = [
            _predict_block(predictor, source, filters, [inner[0], ys, inner[2]])
            for ys, predictor in parts
            if ys[0] < ys[1]
        ]
        maps.append(np.concatenate(blocks, axis=1))
    return maps[0], maps[1]


def _predict_block(
    predictor: TilePredictor,
    source: Source,
    filters: TileFilters | None,
    bounds: Sequence[tuple[int, int]],
) -> np.ndarray:
    """The prediction of the block `bounds` of `source`, read with half a tile of real data
    around it where the volume has it (so its border tiles see no mirrored edge)."""
    volume, stats = source
    margin = predictor.cube // 2
    outer = [
        (max(0, a - margin), min(n, b + margin))
        for (a, b), n in zip(bounds, volume.shape, strict=True)
    ]
    read = tuple(slice(a, b) for a, b in outer)
    keep = tuple(slice(a - o, b - o) for (a, b), (o, _) in zip(bounds, outer, strict=True))
    block = np.ascontiguousarray(volume[read], dtype=np.float32)
    release_pages(volume[read[0]])  # the memory-mapped slices just read: read, not kept
    out = np.zeros(block.shape, dtype=np.float32)
    predictor.predict_into(out, [(block, stats)], filters)
    del block
    return np.ascontiguousarray(out[keep])
