"""Target strategies of the even/odd recipes: "n2n" (denoise) and "isonet2-n2n" (refine).

Example:
    strategy = make_strategy(settings, physics, cube_size=96, device="cuda")  # .strategy
    example = strategy.prepare({"even": e, "odd": o, "tomo": t}, model, generator)
    prediction = example.network_output(model(example.inputs))   # (2b, 1, c, c, c)

Both stack the halves along the batch, even first: inputs (even', odd'), targets (odd', even')
— the cross pairing of noise2noise — so one forward call serves both halves.
"""

import dataclasses
import logging
import math
from dataclasses import dataclass

import torch

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.targets.augment import draw_rotation, rotated_mask_rfft, standard_normal
from isonet2.targets.example import Batch, Model, TrainingExample
from isonet2.targets.filters import FilterBank, FilterTable, apply_table, fill_missing_wedge
from isonet2.targets.settings import TargetSettings

logger = logging.getLogger(__name__)

_EPS = 1e-8


def input_cubes(batch: Batch, key: str, bank: FilterBank) -> torch.Tensor:
    """batch[key] (b, 1, c, c, c) as float32 on the bank's device, phase-flipped if required."""
    cubes = batch[key].to(device=bank.device, dtype=torch.float32)
    return apply_table(bank.input_flip, cubes, batch["tomo"])


def lookup(table: FilterTable | None, tomo: torch.Tensor) -> torch.Tensor | None:
    """Per-cube filters (b, 1, c, c, w) of a table, or None without one."""
    return None if table is None else table(tomo)


def cube_mean_std(volumes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of each cube of (b, 1, c, c, c), each shaped (b, 1, 1, 1, 1)."""
    dims = (-4, -3, -2, -1)
    return volumes.mean(dim=dims, keepdim=True), volumes.std(dim=dims, keepdim=True)


def restandardise(volumes: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Shift and scale each cube of (b, 1, c, c, c) to the given per-cube mean and std."""
    own_mean, own_std = cube_mean_std(volumes)
    return (volumes - own_mean) / own_std.clamp_min(_EPS) * std + mean


@dataclass(frozen=True)
class Noise2NoiseStrategy:
    """Method "n2n": f(even) against odd and f(odd) against even; no wedge, no rotation.

    Network mode: the output is CTF-filtered before the loss; Wiener mode: the targets are
    Wiener-filtered. No bands (the plain base loss applies).
    """

    settings: TargetSettings
    bank: FilterBank

    @torch.no_grad()
    def prepare(self, batch: Batch, model: Model, generator: torch.Generator) -> TrainingExample:
        """Inputs (even, odd), targets (odd, even), each (2b, 1, c, c, c); see TargetStrategy."""
        tomo = batch["tomo"].to(self.bank.device)
        both = torch.cat([tomo, tomo])
        even = input_cubes(batch, "even", self.bank)
        odd = input_cubes(batch, "odd", self.bank)
        targets = apply_table(self.bank.target_wiener, torch.cat([odd, even]), both)
        return TrainingExample(
            inputs=torch.cat([even, odd]),
            targets=targets,
            output_filter=lookup(self.bank.output_ctf, both),
            n2n_band=None,
            mw_band=None,
        )

    def with_noise_level(self, noise_level: float) -> "Noise2NoiseStrategy":
        return dataclasses.replace(
            self, settings=dataclasses.replace(self.settings, noise_level=noise_level)
        )


@dataclass(frozen=True)
class IsoNet2N2NStrategy:
    """Method "isonet2-n2n": wedge filling by the network's own first pass, then rotation.

    Steps of ALGORITHM §5 (wedge w of each cube's tomogram, rotation R drawn per batch):

    1. sigma_raw = std(even - odd) / sqrt(2) over the batch (after any phase flip).
    2. even, odd <- w * even, w * odd; record each first-pass input cube's mean and std
       (the wedge-filtered cube, or the raw one with ``apply_mw_x1=False``).
    3. p = f(first-pass inputs), both halves in one no-grad call; sigma_pred =
       std(p_e - p_o) / sqrt(2); delta = sqrt(|sigma_raw² - sigma_pred²|).
    4. p <- CTF * p (network / wiener modes); p <- p + delta * N(0, 1), per half.
    5. F = (1 - w) * p + w * half.
    6. T = R(F); inputs I = w * T re-standardised to the recorded mean and std; M_R = R(w).
    7. targets cross-paired (T_o for the even input, T_e for the odd one), Wiener-filtered in
       wiener mode; the network output is CTF-filtered in network mode.
    8. bands n2n = M_R * w, mw = M_R * (1 - w).
    """

    settings: TargetSettings
    bank: FilterBank

    @torch.no_grad()
    def prepare(self, batch: Batch, model: Model, generator: torch.Generator) -> TrainingExample:
        """Inputs (I_e, I_o), targets (T_o, T_e), each (2b, 1, c, c, c); see TargetStrategy."""
        rotation = draw_rotation(
            self.settings.random_rot_weight, generator, mirrors=self.settings.train_mirrors
        )
        tomo = batch["tomo"].to(self.bank.device)
        both = torch.cat([tomo, tomo])
        even = input_cubes(batch, "even", self.bank)
        odd = input_cubes(batch, "odd", self.bank)
        half = even.shape[0]
        sigma_raw = (even - odd).std() / math.sqrt(2.0)

        raw = torch.cat([even, odd])
        wedge = self.bank.wedge(both)
        measured = apply_fourier_filter(raw, wedge)
        first_inputs = measured if self.settings.apply_mw_x1 else raw
        mean, std = cube_mean_std(first_inputs)

        prediction = model(first_inputs).to(torch.float32)
        sigma_pred = (prediction[:half] - prediction[half:]).std() / math.sqrt(2.0)
        delta = torch.sqrt(torch.abs(sigma_raw**2 - sigma_pred**2))
        prediction = apply_table(self.bank.prediction_ctf, prediction, both)
        prediction = prediction + delta * standard_normal(prediction.shape, generator, raw.device)

        rotated = rotation.volumes(fill_missing_wedge(prediction, measured, wedge))
        inputs = restandardise(apply_fourier_filter(rotated, wedge), mean, std)
        targets = apply_table(self.bank.target_wiener, rotated.roll(half, dims=0), both)
        rotated_wedge = rotated_mask_rfft(rotation, self.bank.wedge_centred(tomo)).repeat(
            2, 1, 1, 1, 1
        )
        return TrainingExample(
            inputs=inputs,
            targets=targets,
            output_filter=lookup(self.bank.output_ctf, both),
            n2n_band=rotated_wedge * wedge,
            mw_band=rotated_wedge * (1.0 - wedge),
        )

    def with_noise_level(self, noise_level: float) -> "IsoNet2N2NStrategy":
        return dataclasses.replace(
            self, settings=dataclasses.replace(self.settings, noise_level=noise_level)
        )
