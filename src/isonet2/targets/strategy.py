"""Choose the target strategy of a training run, once, before the loop.

Example:
    strategy = make_strategy(settings, physics, cube_size=96, device="cuda")
    for epoch in range(epochs):
        strategy = strategy.with_noise_level(noise_schedule(epoch))
        for batch in loader:
            example = strategy.prepare(batch, model, generator)
"""

import logging
from collections.abc import Callable, Sequence

from isonet2.fourier.grids import Device
from isonet2.targets.example import TargetStrategy
from isonet2.targets.filters import FilterBank
from isonet2.targets.noise2noise import IsoNet2N2NStrategy, Noise2NoiseStrategy
from isonet2.targets.settings import TargetSettings, TomogramPhysics
from isonet2.targets.single_map import SingleMapStrategy

logger = logging.getLogger(__name__)

_STRATEGIES: dict[str, Callable[[TargetSettings, FilterBank], TargetStrategy]] = {
    "n2n": Noise2NoiseStrategy,
    "isonet2-n2n": IsoNet2N2NStrategy,
    "isonet2": SingleMapStrategy.create,
}


def make_strategy(
    settings: TargetSettings,
    physics: Sequence[TomogramPhysics],
    cube_size: int,
    device: Device,
) -> TargetStrategy:
    """The strategy of ``settings.method`` with its filters built on ``device``.

    Args:
        settings: validated target settings.
        physics: one record per tomogram, indexed by the batches' "tomo" values.
        cube_size: edge c of the training cubes in voxels.
        device: the training device (filters and every prepared tensor live there).
    """
    bank = FilterBank.build(settings, physics, cube_size, device)
    logger.info(
        "training targets: method %s, CTF mode %s, %d tomogram(s), cubes %d³",
        settings.method,
        settings.ctf_mode,
        len(physics),
        cube_size,
    )
    return _STRATEGIES[settings.method](settings, bank)
