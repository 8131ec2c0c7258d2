"""Target strategy of the single-map recipe "isonet2" (one volume per tomogram, no halves).

Example:
    strategy = make_strategy(settings, physics, cube_size=96, device="cuda")  # .strategy
    example = strategy.prepare({"x": cubes, "tomo": t}, model, generator)
    prediction = example.network_output(model(example.inputs))   # (b, 1, c, c, c)
"""

import dataclasses
import logging
from dataclasses import dataclass

import torch

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.targets.augment import draw_rotation, noise_amplitude, rotated_mask_rfft, wedge_noise
from isonet2.targets.example import Batch, Model, TrainingExample
from isonet2.targets.filters import FilterBank, apply_table, fill_missing_wedge
from isonet2.targets.noise2noise import cube_mean_std, input_cubes, lookup
from isonet2.targets.settings import TargetSettings

logger = logging.getLogger(__name__)

LOW_QUANTILE = 0.04
HIGH_QUANTILE = 0.96


def cube_quantiles(
    volumes: torch.Tensor, low: float = LOW_QUANTILE, high: float = HIGH_QUANTILE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cube of (b, 1, c, c, c): (q_low, q_high - q_low), each (b, 1, 1, 1, 1) float32.

    Nearest-rank quantiles; the span is at least 1e-8 so a constant cube maps to 0.
    """
    flat = volumes.to(torch.float32).reshape(volumes.shape[0], -1)
    n = flat.shape[1]
    q_low = flat.kthvalue(round(low * (n - 1)) + 1, dim=1).values
    q_high = flat.kthvalue(round(high * (n - 1)) + 1, dim=1).values
    shape = (-1,) + (1,) * (volumes.ndim - 1)
    return q_low.reshape(shape), (q_high - q_low).clamp_min(1e-8).reshape(shape)


def quantile_normalise(
    volumes: torch.Tensor, low: float = LOW_QUANTILE, high: float = HIGH_QUANTILE
) -> torch.Tensor:
    """Map each cube of (b, 1, c, c, c) to (v - q_low) / (q_high - q_low), float32.

    q are the cube's own ``low`` / ``high`` quantiles (nearest rank), so most voxels land in
    [0, 1] (IsoNet's percentile normalisation). A constant cube stays at 0.
    """
    q_low, span = cube_quantiles(volumes, low, high)
    return (volumes.to(torch.float32) - q_low) / span


@dataclass(frozen=True)
class SingleMapStrategy:
    """Method "isonet2": wedge filling and optional noise on a single map (ALGORITHM §5).

    With the cube's wedge w and the batch's rotation R:

    1. x <- quantile-normalised (after any phase flip); first pass p = f(w * x) (or f(x) with
       ``apply_mw_x1=False``), no gradients.
    2. p <- CTF * p (network / wiener modes); F = (1 - w) * p + w * x, quantile-normalised.
    3. T = R(F); inputs I = w * T, plus, if noise_level > 0, back-projection-like noise inside
       w with std noise_level * std(I) per cube; targets T (Wiener-filtered in wiener mode).
    4. bands n2n = R(w) * w (measured in input and target), mw = R(w) * (1 - w).

    Attributes:
        settings: the target settings.
        bank: the per-tomogram filters.
        amplitude: (c, c, c//2+1) spectral amplitude of the noise (``noise_amplitude``).
    """

    settings: TargetSettings
    bank: FilterBank
    amplitude: torch.Tensor

    @classmethod
    def create(cls, settings: TargetSettings, bank: FilterBank) -> "SingleMapStrategy":
        """The strategy with its noise amplitude computed for the bank's cube size and device."""
        amplitude = noise_amplitude(settings.noise_mode, bank.cube_size, device=bank.device)
        return cls(settings, bank, amplitude)

    @torch.no_grad()
    def prepare(self, batch: Batch, model: Model, generator: torch.Generator) -> TrainingExample:
        """Inputs I and targets T, each (b, 1, c, c, c); see TargetStrategy."""
        rotation = draw_rotation(
            self.settings.random_rot_weight, generator, mirrors=self.settings.train_mirrors
        )
        tomo = batch["tomo"].to(self.bank.device)
        x = quantile_normalise(input_cubes(batch, "x", self.bank))
        wedge = self.bank.wedge(tomo)
        measured = apply_fourier_filter(x, wedge)
        first_inputs = measured if self.settings.apply_mw_x1 else x

        prediction = model(first_inputs).to(torch.float32)
        prediction = apply_table(self.bank.prediction_ctf, prediction, tomo)
        filled = quantile_normalise(fill_missing_wedge(prediction, measured, wedge))

        rotated = rotation.volumes(filled)
        inputs = apply_fourier_filter(rotated, wedge)
        if self.settings.noise_level > 0:
            _, std = cube_mean_std(inputs)
            noise_filter = wedge * self.amplitude
            inputs = inputs + wedge_noise(
                inputs.shape, noise_filter, self.settings.noise_level * std, generator
            )
        rotated_wedge = rotated_mask_rfft(rotation, self.bank.wedge_centred(tomo))
        return TrainingExample(
            inputs=inputs,
            targets=apply_table(self.bank.target_wiener, rotated, tomo),
            output_filter=lookup(self.bank.output_ctf, tomo),
            n2n_band=rotated_wedge * wedge,
            mw_band=rotated_wedge * (1.0 - wedge),
        )

    def with_noise_level(self, noise_level: float) -> "SingleMapStrategy":
        return dataclasses.replace(
            self, settings=dataclasses.replace(self.settings, noise_level=noise_level)
        )
