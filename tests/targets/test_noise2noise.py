"""The even/odd recipes: filled targets, delta noise, bands, CTF modes, phase flips, one pass."""

import math
from collections.abc import Callable

import pytest
import torch
from target_helpers import random_batch, spectrum_energy, two_tomograms, zero_model

from isonet2.fourier.ctf import ctf_3d
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.targets.augment import Mirrored, draw_rotation, rotated_mask_rfft
from isonet2.targets.example import TrainingExample
from isonet2.targets.filters import FilterBank, fill_missing_wedge
from isonet2.targets.noise2noise import IsoNet2N2NStrategy, Noise2NoiseStrategy, cube_mean_std
from isonet2.targets.settings import TargetSettings
from isonet2.targets.single_map import SingleMapStrategy
from isonet2.targets.strategy import make_strategy

C = 16


def _strategy(cube_size: int = C, **kwargs: object) -> IsoNet2N2NStrategy:
    settings = TargetSettings(method="isonet2-n2n", **kwargs)  # type: ignore[arg-type]
    bank = FilterBank.build(settings, two_tomograms(), cube_size, "cpu")
    return IsoNet2N2NStrategy(settings, bank)


def _prepare_with_rotation(
    strategy: IsoNet2N2NStrategy, batch: dict[str, torch.Tensor], model: Callable, seed: int
) -> tuple[TrainingExample, object]:
    """Prepare a batch and replay the rotation it drew (the first draw of the generator)."""
    gen = torch.Generator().manual_seed(seed)
    replay = torch.Generator()
    replay.set_state(gen.get_state())
    example = strategy.prepare(batch, model, gen)
    settings = strategy.settings
    return example, draw_rotation(
        settings.random_rot_weight, replay, mirrors=settings.train_mirrors
    )


def _half(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x


@pytest.mark.parametrize(
    ("model", "apply_mw_x1", "mirrors"),
    [(zero_model, True, False), (_half, False, False), (zero_model, True, True)],
)
def test_filled_target_is_measured_half_plus_delta_noise(
    model: Callable, apply_mw_x1: bool, mirrors: bool
) -> None:
    b = 8
    strategy = _strategy(24, random_rot_weight=0.0, apply_mw_x1=apply_mw_x1, train_mirrors=mirrors)
    batch = random_batch(b, 24, seed=1)
    seed = 3 if mirrors else 2  # seed 3 draws a mirror when mirrors are allowed
    example, rotation = _prepare_with_rotation(strategy, batch, model, seed=seed)
    assert isinstance(rotation, Mirrored) == mirrors
    tomo = batch["tomo"]
    wedge = strategy.bank.wedge(tomo)
    even, odd = batch["even"], batch["odd"]
    sigma_raw = (even - odd).std() / math.sqrt(2)
    raw = torch.cat([even, odd])
    first = apply_fourier_filter(raw, torch.cat([wedge, wedge])) if apply_mw_x1 else raw
    pred = model(first)
    sigma_pred = (pred[:b] - pred[b:]).std() / math.sqrt(2)
    delta = torch.sqrt(torch.abs(sigma_raw**2 - sigma_pred**2))

    measured_even = apply_fourier_filter(even, wedge)
    noiseless = rotation.volumes(fill_missing_wedge(pred[:b], measured_even, wedge))
    residual = example.targets[b:] - noiseless  # T_e is the target of the odd input
    rotated_wedge = rotated_mask_rfft(rotation, strategy.bank.wedge_centred(tomo))
    inside = spectrum_energy(residual, rotated_wedge)
    total = spectrum_energy(residual, torch.ones_like(rotated_wedge))
    assert (inside / total < 1e-9).all()
    missing_fraction = (1.0 - strategy.bank.wedge_centred(tomo)).mean()
    expected_std = delta * torch.sqrt(missing_fraction)
    assert residual.std().item() == pytest.approx(expected_std.item(), rel=0.02)

    # inputs: the acquisition wedge of the rotated target, back at the first pass's statistics
    mean, std = cube_mean_std(first)
    got_mean, got_std = cube_mean_std(example.inputs)
    torch.testing.assert_close(got_mean, mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_std, std, atol=1e-5, rtol=1e-5)
    outside = spectrum_energy(example.inputs, 1.0 - torch.cat([wedge, wedge]))
    assert (outside / spectrum_energy(example.inputs, torch.ones_like(wedge[:1])) < 1e-9).all()


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_bands_partition_the_rotated_wedge(weight: float) -> None:
    strategy = _strategy(random_rot_weight=weight)
    batch = random_batch(2, C, seed=3)
    example, rotation = _prepare_with_rotation(strategy, batch, zero_model, seed=4)
    assert example.n2n_band is not None and example.mw_band is not None
    rotated = rotated_mask_rfft(rotation, strategy.bank.wedge_centred(batch["tomo"])).repeat(
        2, 1, 1, 1, 1
    )
    wedge = strategy.bank.wedge(torch.cat([batch["tomo"]] * 2))
    assert torch.equal(example.n2n_band + example.mw_band, rotated)
    assert torch.equal(example.n2n_band, rotated * wedge)
    assert not (example.n2n_band * example.mw_band).any()


def test_first_pass_is_one_no_grad_call_in_the_models_mode() -> None:
    calls: list[tuple[int, bool, bool]] = []

    class Recorder(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append((x.shape[0], torch.is_grad_enabled(), self.training))
            return torch.zeros_like(x)

    model = Recorder().train()
    _strategy().prepare(random_batch(3, C), model, torch.Generator().manual_seed(0))
    assert calls == [(6, False, True)]


def test_same_seed_same_example() -> None:
    strategy = _strategy(random_rot_weight=0.5)
    batch = random_batch(2, C, seed=5)
    first = strategy.prepare(batch, _half, torch.Generator().manual_seed(9))
    again = strategy.prepare(batch, _half, torch.Generator().manual_seed(9))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)


@pytest.mark.parametrize("method", ["n2n", "isonet2-n2n"])
def test_network_mode_output_filter_is_each_tomograms_ctf(method: str) -> None:
    physics = two_tomograms()
    settings = TargetSettings(method=method, ctf_mode="network", clip_first_peak_mode=3)  # type: ignore[arg-type]
    strategy = make_strategy(settings, physics, C, "cpu")
    tomo = [1, 0, 1]
    example = strategy.prepare(random_batch(3, C, tomo=tomo), zero_model, torch.Generator())
    assert example.output_filter is not None
    assert example.output_filter.shape == (6, 1, C, C, C // 2 + 1)
    for row, t in enumerate(tomo + tomo):
        p = physics[t]
        want = ctf_3d(
            (C, C, C),
            p.pixel_size_angstrom,
            p.defocus_angstrom,
            p.voltage_kv,
            p.cs_mm,
            p.amplitude_contrast,
            clip_first_peak_mode=3,
            absolute=True,
            rfft=True,
        )
        assert torch.equal(example.output_filter[row, 0], want)
    y = torch.randn(6, 1, C, C, C)
    torch.testing.assert_close(
        example.network_output(y), apply_fourier_filter(y, example.output_filter)
    )


def test_n2n_cross_pairs_without_bands() -> None:
    strategy = make_strategy(TargetSettings(method="n2n"), two_tomograms(), C, "cpu")
    batch = random_batch(2, C)
    example = strategy.prepare(batch, zero_model, torch.Generator())
    assert torch.equal(example.inputs, torch.cat([batch["even"], batch["odd"]]))
    assert torch.equal(example.targets, torch.cat([batch["odd"], batch["even"]]))
    assert example.n2n_band is None and example.mw_band is None and example.output_filter is None
    y = torch.randn(4, 1, C, C, C)
    assert example.network_output(y) is y


def test_wiener_mode_filters_the_targets() -> None:
    physics = two_tomograms()
    settings = TargetSettings(method="n2n", ctf_mode="wiener")
    bank = FilterBank.build(settings, physics, C, "cpu")
    batch = random_batch(2, C, tomo=[1, 0])
    example = Noise2NoiseStrategy(settings, bank).prepare(batch, zero_model, torch.Generator())
    assert bank.input_flip is not None and bank.target_wiener is not None
    tomo = batch["tomo"]
    flipped_odd = apply_fourier_filter(batch["odd"], bank.input_flip(tomo))
    want = apply_fourier_filter(flipped_odd, bank.target_wiener(tomo))
    torch.testing.assert_close(example.targets[:2], want, atol=1e-5, rtol=0)
    assert example.output_filter is None


def test_wiener_mode_filters_the_rotated_targets_of_isonet2_n2n() -> None:
    batch = random_batch(2, C, seed=6, tomo=[0, 1])
    plain = _strategy(do_phaseflip_input=False)
    wiener = _strategy(do_phaseflip_input=False, ctf_mode="wiener")
    got = wiener.prepare(batch, zero_model, torch.Generator().manual_seed(3))
    reference = plain.prepare(batch, zero_model, torch.Generator().manual_seed(3))
    assert wiener.bank.target_wiener is not None
    filters = wiener.bank.target_wiener(torch.cat([batch["tomo"]] * 2))
    torch.testing.assert_close(
        got.targets, apply_fourier_filter(reference.targets, filters), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(got.inputs, reference.inputs)


@pytest.mark.parametrize("ctf_mode", ["None", "phase_only", "wiener", "network"])
@pytest.mark.parametrize(("do_flip", "is_flipped"), [(True, False), (True, True), (False, False)])
def test_phase_flip_only_in_the_right_modes(ctf_mode: str, do_flip: bool, is_flipped: bool) -> None:
    physics = two_tomograms()
    settings = TargetSettings(
        method="n2n",
        ctf_mode=ctf_mode,
        do_phaseflip_input=do_flip,
        is_ctf_flipped=is_flipped,  # type: ignore[arg-type]
    )
    batch = random_batch(2, C, tomo=[0, 1])
    example = make_strategy(settings, physics, C, "cpu").prepare(
        batch, zero_model, torch.Generator()
    )
    should_flip = ctf_mode != "None" and do_flip and not is_flipped
    flip = FilterBank.build(TargetSettings(ctf_mode="phase_only"), physics, C, "cpu").input_flip
    assert flip is not None
    want = (
        apply_fourier_filter(batch["even"], flip(batch["tomo"])) if should_flip else batch["even"]
    )
    torch.testing.assert_close(example.inputs[:2], want, atol=1e-5, rtol=0)
    assert not torch.allclose(
        batch["even"], apply_fourier_filter(batch["even"], flip(batch["tomo"])), atol=1e-2
    )


def test_make_strategy_picks_the_methods_class() -> None:
    physics = two_tomograms()
    classes = {
        "n2n": Noise2NoiseStrategy,
        "isonet2-n2n": IsoNet2N2NStrategy,
        "isonet2": SingleMapStrategy,
    }
    for method, cls in classes.items():
        strategy = make_strategy(TargetSettings(method=method), physics, C, "cpu")  # type: ignore[arg-type]
        assert isinstance(strategy, cls)
        updated = strategy.with_noise_level(0.3)
        assert isinstance(updated, cls) and updated.settings.noise_level == 0.3  # type: ignore[attr-defined]
        assert updated.bank is strategy.bank  # type: ignore[attr-defined]
