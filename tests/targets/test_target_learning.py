"""Ten AdamW steps of unet-small lower the masked loss under each training recipe."""

import pytest
import torch
from target_helpers import two_tomograms

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.nn.registry import build_model
from isonet2.targets.settings import TargetSettings
from isonet2.targets.strategy import make_strategy
from isonet2.train.losses import get_base_loss, masked_loss

C = 32
STEPS = 10  # the last five steps' mean loss is 0.58-0.75 of the first five's


def _blobs(b: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth random blobs (b, 1, c, c, c): sparse spikes blurred by a Gaussian, std 1."""
    spikes = (torch.rand(b, 1, C, C, C, generator=gen) > 0.995).float()
    k = torch.fft.fftfreq(C)
    radius_sq = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
    smooth = torch.fft.ifftn(
        torch.fft.fftn(spikes, dim=(-3, -2, -1)) * torch.exp(-radius_sq * 200.0), dim=(-3, -2, -1)
    ).real
    smooth = smooth - smooth.mean(dim=(1, 2, 3, 4), keepdim=True)
    return smooth / smooth.std(dim=(1, 2, 3, 4), keepdim=True)


def _batch(gen: torch.Generator) -> dict[str, torch.Tensor]:
    signal = _blobs(2, gen)
    wedge = missing_wedge_mask((C, C, C), -60.0, 60.0, rfft=True)
    halves = {
        key: apply_fourier_filter(signal + 0.7 * torch.randn(signal.shape, generator=gen), wedge)
        for key in ("even", "odd", "x")
    }
    return {**halves, "tomo": torch.tensor([0, 0])}


@pytest.mark.parametrize("method", ["n2n", "isonet2-n2n", "isonet2"])
def test_ten_steps_lower_the_loss(method: str) -> None:
    torch.manual_seed(0)
    settings = TargetSettings(method=method, mw_weight=1.0, noise_level=0.1)  # type: ignore[arg-type]
    strategy = make_strategy(settings, two_tomograms(), C, "cpu")
    model = build_model("unet-small").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    base = get_base_loss("l2")
    data_gen, target_gen = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    losses = []
    for _ in range(STEPS):
        example = strategy.prepare(_batch(data_gen), model, target_gen)
        prediction = example.network_output(model(example.inputs))
        terms = masked_loss(
            prediction, example.targets, example.n2n_band, example.mw_band, 1.0, base
        )
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        losses.append(terms.total.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.9 * first, losses
