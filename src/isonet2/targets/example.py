"""What a target strategy hands the trainer for one batch, and the strategies' one interface.

Example:
    example = strategy.prepare(batch, model, generator)          # no gradients inside
    prediction = example.network_output(model(example.inputs))  # with gradients
    terms = masked_loss(prediction, example.targets, example.n2n_band, example.mw_band,
                        settings.mw_weight, base_loss)           # isonet2.train.losses
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch

from isonet2.fourier.filters import apply_fourier_filter

logger = logging.getLogger(__name__)

Model = Callable[[torch.Tensor], torch.Tensor]
"""A network mapping (b, 1, c, c, c) -> (b, 1, c, c, c), e.g. a ``torch.nn.Module``."""

Batch = Mapping[str, torch.Tensor]
"""A batch of the data layer: "even" and "odd" (or "x") cubes (b, 1, c, c, c) float32 and
"tomo" (b,) int64, each cube's index into the tomogram list."""


@dataclass(frozen=True)
class TrainingExample:
    """Network inputs, targets and loss filters of one batch, all float32 on the training device.

    B' = 2b for the even/odd methods (both halves stacked along the batch, even first, so one
    forward call handles them) and b for the single-map method.

    Attributes:
        inputs: (B', 1, c, c, c) what the network sees.
        targets: (B', 1, c, c, c) what its (filtered) output is compared with.
        output_filter: (B', 1, c, c, c//2+1) rfft-layout filter applied to the network output
            before the loss (the CTF in "network" mode), or None.
        n2n_band: (B', 1, c, c, c//2+1) 0/1 rfft-layout mask of the band measured in both the
            inputs and the targets (rotated wedge x wedge), or None without bands.
        mw_band: (B', 1, c, c, c//2+1) the band measured in the targets only (rotated wedge x
            (1 - wedge)), or None; n2n_band + mw_band is the rotated wedge.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    output_filter: torch.Tensor | None
    n2n_band: torch.Tensor | None
    mw_band: torch.Tensor | None

    def network_output(self, output: torch.Tensor) -> torch.Tensor:
        """The network's output as the loss must see it: filtered by ``output_filter`` if set.

        Args:
            output: (B', 1, c, c, c) the network's output for ``inputs`` (any float dtype).

        Returns:
            (B', 1, c, c, c); float32 when filtered (the FFT runs in float32).
        """
        if self.output_filter is None:
            return output
        return apply_fourier_filter(output, self.output_filter)


class TargetStrategy(Protocol):
    """One training recipe (ALGORITHM §5), chosen once before the training loop."""

    def prepare(self, batch: Batch, model: Model, generator: torch.Generator) -> TrainingExample:
        """Make the batch's training example; may run ``model`` once without gradients.

        Args:
            batch: cubes and tomogram indices from the data layer (any device; moved to the
                filters' device).
            model: the network in whatever mode the trainer keeps it; called under
                ``torch.no_grad()`` and under the caller's autocast.
            generator: CPU generator for every random draw (rotation first, then noise).
        """
        ...

    def with_noise_level(self, noise_level: float) -> "TargetStrategy":
        """The same strategy (filters shared) with a new noise level, e.g. each epoch."""
        ...
