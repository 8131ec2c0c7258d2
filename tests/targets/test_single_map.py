"""The single-map recipe: quantile normalisation, filled targets, wedge noise of the asked std."""

import pytest
import torch
from target_helpers import random_batch, spectrum_energy, two_tomograms, zero_model

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.targets.augment import draw_rotation, rotated_mask_rfft
from isonet2.targets.filters import FilterBank
from isonet2.targets.settings import TargetSettings
from isonet2.targets.single_map import SingleMapStrategy, quantile_normalise

C = 16


def _strategy(**kwargs: object) -> SingleMapStrategy:
    settings = TargetSettings(method="isonet2", **kwargs)  # type: ignore[arg-type]
    return SingleMapStrategy.create(settings, FilterBank.build(settings, two_tomograms(), C, "cpu"))


def test_quantile_normalise_maps_quantiles_to_zero_and_one() -> None:
    gen = torch.Generator().manual_seed(0)
    cubes = torch.randn(3, 1, C, C, C, generator=gen) * torch.tensor([1.0, 5.0, 0.1]).reshape(
        3, 1, 1, 1, 1
    )
    normalised = quantile_normalise(cubes + 7.0).flatten(1)
    torch.testing.assert_close(normalised.quantile(0.04, dim=1), torch.zeros(3), atol=2e-3, rtol=0)
    torch.testing.assert_close(normalised.quantile(0.96, dim=1), torch.ones(3), atol=2e-3, rtol=0)
    assert torch.equal(
        quantile_normalise(torch.full((1, 1, 4, 4, 4), 3.0)), torch.zeros(1, 1, 4, 4, 4)
    )


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_zero_network_target_is_rotated_normalised_measured_map(weight: float) -> None:
    strategy = _strategy(random_rot_weight=weight)
    batch = random_batch(2, C, seed=1, tomo=[1, 0])
    gen = torch.Generator().manual_seed(2)
    replay = torch.Generator()
    replay.set_state(gen.get_state())
    example = strategy.prepare(batch, zero_model, gen)
    rotation = draw_rotation(weight, replay)

    wedge = strategy.bank.wedge(batch["tomo"])
    measured = apply_fourier_filter(quantile_normalise(batch["x"]), wedge)
    want = rotation.volumes(quantile_normalise(measured))
    torch.testing.assert_close(example.targets, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(example.inputs, apply_fourier_filter(want, wedge), atol=1e-5, rtol=0)
    rotated = rotated_mask_rfft(rotation, strategy.bank.wedge_centred(batch["tomo"]))
    assert example.n2n_band is not None and example.mw_band is not None
    assert torch.equal(example.n2n_band + example.mw_band, rotated)
    assert torch.equal(example.n2n_band, rotated * wedge)


@pytest.mark.parametrize("mode", ["None", "ramp", "hamming"])
def test_noise_has_requested_std_and_lives_inside_the_wedge(mode: str) -> None:
    level = 0.7
    strategy = _strategy(noise_level=level, noise_mode=mode)
    batch = random_batch(3, C, seed=3, tomo=[0, 1, 1])
    example = strategy.prepare(batch, zero_model, torch.Generator().manual_seed(4))
    wedge = strategy.bank.wedge(batch["tomo"])
    clean = apply_fourier_filter(example.targets, wedge)
    noise = example.inputs - clean
    torch.testing.assert_close(
        noise.std(dim=(1, 2, 3, 4)), level * clean.std(dim=(1, 2, 3, 4)), rtol=1e-4, atol=0
    )
    outside = spectrum_energy(noise, 1.0 - wedge) / spectrum_energy(noise, torch.ones_like(wedge))
    assert (outside < 1e-9).all()


def test_noise_level_zero_adds_nothing_and_with_noise_level_updates_it() -> None:
    strategy = _strategy()
    batch = random_batch(2, C, seed=5)
    quiet = strategy.prepare(batch, zero_model, torch.Generator().manual_seed(6))
    wedge = strategy.bank.wedge(batch["tomo"])
    torch.testing.assert_close(
        quiet.inputs, apply_fourier_filter(quiet.targets, wedge), atol=1e-5, rtol=0
    )
    noisy = strategy.with_noise_level(0.5).prepare(
        batch, zero_model, torch.Generator().manual_seed(6)
    )
    assert torch.equal(noisy.targets, quiet.targets)
    assert not torch.allclose(noisy.inputs, quiet.inputs, atol=1e-2)


def test_network_mode_filters_the_output_only() -> None:
    strategy = _strategy(ctf_mode="network")
    batch = random_batch(2, C, tomo=[1, 0])
    example = strategy.prepare(batch, zero_model, torch.Generator())
    assert strategy.bank.output_ctf is not None and example.output_filter is not None
    assert torch.equal(example.output_filter, strategy.bank.output_ctf(batch["tomo"]))


@pytest.mark.parametrize("apply_mw_x1", [True, False])
def test_first_pass_input(apply_mw_x1: bool) -> None:
    settings = TargetSettings(method="isonet2", random_rot_weight=0.0, apply_mw_x1=apply_mw_x1)
    bank = FilterBank.build(settings, two_tomograms(), C, "cpu")
    strategy = SingleMapStrategy.create(settings, bank)
    seen: list[torch.Tensor] = []

    def model(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return torch.zeros_like(x)

    batch = random_batch(2, C, seed=5, tomo=[0, 1])
    strategy.prepare(batch, model, torch.Generator().manual_seed(6))
    first = seen[0]
    missing = 1.0 - bank.wedge(batch["tomo"])
    x = quantile_normalise(batch["x"])
    if apply_mw_x1:  # nothing of the missing wedge reaches the first pass
        assert (spectrum_energy(first, missing) < 1e-8 * spectrum_energy(x, missing)).all()
    else:  # the normalised map itself
        torch.testing.assert_close(first, x, atol=1e-5, rtol=0)
