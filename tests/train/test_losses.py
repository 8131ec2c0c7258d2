"""Base losses by name and the masked band loss: zeros, equalities, band sums, gradients."""

import numpy as np
import pytest
import torch

from isonet2.errors import InputError
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.train.losses import BASE_LOSSES, fsc_loss, get_base_loss, l2_loss, masked_loss

C = 16


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, 1, C, C, C, generator=gen), torch.randn(2, 1, C, C, C, generator=gen)


def _bands() -> tuple[torch.Tensor, torch.Tensor]:
    wedge = missing_wedge_mask((C, C, C), -60.0, 60.0, rfft=True).expand(2, 1, C, C, C // 2 + 1)
    return wedge, 1.0 - wedge


@pytest.mark.parametrize("name", ["l2", "L2", "l1", "Huber", "FSC", "L2+FSC"])
def test_identical_tensors_have_zero_loss(name: str) -> None:
    x, _ = _pair()
    assert get_base_loss(name)(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)


def test_unknown_loss_lists_valid_names() -> None:
    with pytest.raises(InputError) as err:
        get_base_loss("ssim")
    assert all(name in str(err.value) for name in BASE_LOSSES)
    assert "\n" not in str(err.value)


def test_fsc_loss_of_negated_and_scaled_maps() -> None:
    x, _ = _pair(1)
    assert fsc_loss(x, -x).item() == pytest.approx(2.0, abs=1e-5)
    assert fsc_loss(3.0 * x, x).item() == pytest.approx(0.0, abs=1e-5)
    y, z = _pair(2)
    assert 0.7 < fsc_loss(y, z).item() < 1.3  # independent noise: FSC about 0


def _reference_fsc_loss(a: np.ndarray, b: np.ndarray) -> float:
    """1 - mean batch-pooled FSC from the full complex spectrum (no half-spectrum weights)."""
    fa = np.fft.fftn(a, axes=(-3, -2, -1))
    fb = np.fft.fftn(b, axes=(-3, -2, -1))
    k = np.fft.fftfreq(C)
    radius = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    shell = np.round(radius * C).astype(int)
    values = []
    for s in range(1, C // 2 + 1):
        inside = shell == s
        cross = (fa[..., inside] * fb[..., inside].conj()).real.sum()
        power = (np.abs(fa[..., inside]) ** 2).sum() * (np.abs(fb[..., inside]) ** 2).sum()
        values.append(cross / np.sqrt(power))
    return 1.0 - float(np.mean(values))


def test_fsc_loss_pools_the_batch_like_a_full_spectrum_reference() -> None:
    x, y = _pair(8)
    y = 0.5 * x + y  # correlated, so every shell's FSC is well away from 0
    expected = _reference_fsc_loss(x.numpy().astype(np.float64), y.numpy().astype(np.float64))
    assert fsc_loss(x, y).item() == pytest.approx(expected, abs=1e-5)


def test_a_cube_with_little_power_barely_moves_the_pooled_fsc() -> None:
    x, y = _pair(9)
    y = 0.5 * x + y
    weak_x, weak_y = _pair(10)  # uncorrelated: alone, its FSC is about 0 in every shell
    strong = fsc_loss(x[:1], y[:1]).item()
    pooled = fsc_loss(
        torch.cat((x[:1], 1e-3 * weak_x[:1])), torch.cat((y[:1], 1e-3 * weak_y[:1]))
    ).item()
    per_cube_mean = (strong + fsc_loss(weak_x[:1], weak_y[:1]).item()) / 2
    assert pooled == pytest.approx(strong, abs=1e-3)
    assert abs(per_cube_mean - strong) > 0.1  # what averaging per cube would have given


@pytest.mark.parametrize("name", ["l2", "l1", "huber", "fsc", "l2+fsc"])
def test_masked_loss_with_zero_mw_weight_is_the_base_loss(name: str) -> None:
    base = get_base_loss(name)
    pred, target = _pair(3)
    n2n_band, mw_band = _bands()
    for weight in (0.0, -1.0):
        terms = masked_loss(pred, target, n2n_band, mw_band, weight, base)
        assert torch.equal(terms.total, base(pred, target))
        assert terms.n2n.item() > 0 and terms.mw.item() > 0


def test_fsc_weight_scales_only_the_fsc_term() -> None:
    x, y = _pair(5)
    weighted = get_base_loss("L2+FSC", fsc_weight=3.0)(x, y).item()
    assert weighted == pytest.approx((l2_loss(x, y) + 3.0 * fsc_loss(x, y)).item(), rel=1e-6)
    assert weighted > get_base_loss("L2+FSC")(x, y).item()
    for name in ("l2", "l1", "huber", "fsc"):
        with pytest.raises(InputError, match="L2\\+FSC"):
            get_base_loss(name, fsc_weight=3.0)


def test_l2_plus_fsc_is_the_sum_and_keeps_the_scale_that_fsc_alone_ignores() -> None:
    x, y = _pair(5)
    combined = get_base_loss("L2+FSC")
    expected = get_base_loss("l2")(x, y) + fsc_loss(x, y)
    assert combined(x, y).item() == pytest.approx(expected.item(), rel=1e-6)
    assert fsc_loss(3.0 * x, x).item() == pytest.approx(0.0, abs=1e-5)
    assert combined(3.0 * x, x).item() == pytest.approx(4.0 * x.pow(2).mean().item(), rel=1e-4)


def test_l2_band_losses_sum_to_the_whole_cube_loss() -> None:
    pred, target = _pair(4)
    n2n_band, mw_band = _bands()  # complementary: together the whole spectrum
    base = get_base_loss("l2")
    terms = masked_loss(pred, target, n2n_band, mw_band, 1.0, base)
    assert terms.total.item() == pytest.approx(base(pred, target).item(), rel=1e-5)
    assert terms.n2n.item() + terms.mw.item() == pytest.approx(terms.total.item(), rel=1e-5)
    weighted = masked_loss(pred, target, n2n_band, mw_band, 5.0, base)
    assert weighted.total.item() == pytest.approx(
        terms.n2n.item() + 5.0 * terms.mw.item(), rel=1e-5
    )


@pytest.mark.parametrize("name", ["l2", "fsc"])
def test_gradients_flow_through_total_only(name: str) -> None:
    pred, target = _pair(5)
    pred.requires_grad_(True)
    n2n_band, mw_band = _bands()
    terms = masked_loss(pred, target, n2n_band, mw_band, 2.0, get_base_loss(name))
    assert not terms.n2n.requires_grad and not terms.mw.requires_grad
    terms.total.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_without_bands_total_is_the_base_loss() -> None:
    pred, target = _pair(6)
    base = get_base_loss("l1")
    terms = masked_loss(pred, target, None, None, 10.0, base)
    assert torch.equal(terms.total, base(pred, target))
    assert torch.equal(terms.n2n, terms.total) and terms.mw.item() == 0.0


def test_fsc_loss_with_an_empty_band_has_finite_gradients() -> None:
    pred, target = _pair(7)
    pred.requires_grad_(True)
    empty = torch.zeros(2, 1, C, C, C // 2 + 1)
    full = torch.ones_like(empty)
    terms = masked_loss(pred, target, full, empty, 1.0, fsc_loss)
    terms.total.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def _lp_bands(c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Complementary rfft-layout bands: 'mw' = |kz| >= c/4, 'n2n' = the rest."""
    kz = torch.fft.fftfreq(c).abs()[:, None, None].expand(c, c, c // 2 + 1)
    mw = (kz >= 0.25).float()[None, None]
    return 1.0 - mw, mw


def _lp_in_band(band: torch.Tensor, c: int, seed: int) -> torch.Tensor:
    noise = torch.randn(1, 1, c, c, c, generator=torch.Generator().manual_seed(seed))
    return torch.fft.irfftn(
        torch.fft.rfftn(noise, dim=(-3, -2, -1)) * band, s=(c, c, c), dim=(-3, -2, -1)
    )


@pytest.mark.parametrize("name", ["L2", "L1", "FSC"])
def test_the_band_weight_multiplies_the_missing_wedge_band(name: str) -> None:
    """An error confined to the mw band shows in `mw` only, and total = n2n + w * mw."""
    c = 16
    n2n_band, mw_band = _lp_bands(c)
    target = torch.randn(1, 1, c, c, c, generator=torch.Generator().manual_seed(0))
    prediction = target + _lp_in_band(mw_band, c, 1)
    base = get_base_loss(name)
    terms = masked_loss(prediction, target, n2n_band, mw_band, 7.0, base)
    assert terms.mw.item() > 1e-3
    assert terms.n2n.item() == pytest.approx(0.0, abs=1e-4)
    assert terms.total.item() == pytest.approx(terms.n2n.item() + 7.0 * terms.mw.item(), rel=1e-5)


@pytest.mark.parametrize("weight", [0.5, 1.0])
def test_a_band_weight_up_to_one_still_uses_the_band_losses(weight: float) -> None:
    """L2+FSC's default band weight is 1: total is n2n + w * mw, not the whole-cube loss."""
    c = 16
    n2n_band, mw_band = _lp_bands(c)
    gen = torch.Generator().manual_seed(3)
    prediction, target = torch.randn(2, 1, c, c, c, generator=gen).unbind(0)
    base = get_base_loss("L1")
    terms = masked_loss(prediction[None], target[None], n2n_band, mw_band, weight, base)
    assert terms.total.item() == pytest.approx(
        terms.n2n.item() + weight * terms.mw.item(), rel=1e-5
    )
    assert terms.total.item() != pytest.approx(base(prediction, target).item(), rel=1e-3)


def test_huber_is_quadratic_within_one_and_linear_beyond() -> None:
    huber = get_base_loss("Huber")
    zero = torch.zeros(1, 1, 2, 2, 2)
    assert huber(zero + 0.5, zero).item() == pytest.approx(0.5 * 0.5**2)
    assert huber(zero + 3.0, zero).item() == pytest.approx(3.0 - 0.5)  # delta (|d| - delta/2)
