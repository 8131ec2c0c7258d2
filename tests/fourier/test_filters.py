"""apply_fourier_filter: identity, layouts, full complex filtering and batching."""

import pytest
import torch

from isonet2.fourier.ctf import ctf_3d
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.grids import centred_to_rfft
from isonet2.fourier.wedge import missing_wedge_mask


def random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(16, 16, 16), (15, 14, 13)])
def test_all_ones_filter_is_identity(shape: tuple[int, int, int]) -> None:
    volume = random(*shape)
    for ones in (torch.ones(shape), torch.ones(*shape[:2], shape[2] // 2 + 1)):
        out = apply_fourier_filter(volume, ones)
        assert out.dtype == torch.float32
        assert torch.allclose(out, volume, atol=1e-5)


@pytest.mark.parametrize("shape", [(16, 16, 16), (15, 14, 13)])
def test_centred_and_rfft_layouts_agree_with_full_complex_filtering(
    shape: tuple[int, int, int],
) -> None:
    volume = random(*shape, seed=1).double()
    for centred in (
        missing_wedge_mask(shape, -50.0, 65.0),
        ctf_3d(shape, 4.0, 20000.0, 300.0, 2.7, 0.1, bfactor_angstrom2=100.0),
    ):
        from_centred = apply_fourier_filter(volume, centred)
        from_rfft = apply_fourier_filter(volume, centred_to_rfft(centred))
        assert torch.equal(from_centred, from_rfft)
        full = torch.fft.ifftn(torch.fft.fftn(volume) * torch.fft.ifftshift(centred.double()))
        assert full.imag.abs().max() < 1e-12  # the filter is Friedel-symmetric
        assert torch.allclose(from_rfft.double(), full.real, atol=1e-5)


def test_batched_single_filter_equals_per_sample() -> None:
    batch = random(3, 1, 12, 12, 12, seed=2)
    mask = missing_wedge_mask((12, 12, 12), -60.0, 60.0, rfft=True)
    out = apply_fourier_filter(batch, mask)
    assert out.shape == batch.shape
    for i in range(3):
        assert torch.allclose(out[i, 0], apply_fourier_filter(batch[i, 0], mask), atol=1e-6)


def test_batched_per_sample_filters_equal_per_sample() -> None:
    batch = random(3, 1, 12, 12, 12, seed=3)
    ranges = [(-60.0, 60.0), (-45.0, 70.0), (-30.0, 30.0)]
    masks = torch.stack([missing_wedge_mask((12, 12, 12), *r, rfft=True) for r in ranges])
    out = apply_fourier_filter(batch, masks[:, None])
    centred = torch.stack([missing_wedge_mask((12, 12, 12), *r) for r in ranges])[:, None]
    assert torch.allclose(apply_fourier_filter(batch, centred), out, atol=1e-6)
    for i in range(3):
        assert torch.allclose(out[i, 0], apply_fourier_filter(batch[i, 0], masks[i]), atol=1e-6)


@pytest.mark.parametrize(
    ("volume_shape", "filter_shape"),
    [((8, 8, 8), (8, 8, 6)), ((8, 8, 8), (8, 7, 5)), ((8,), (8,)), ((4, 4, 2), (4, 4, 2))],
)
def test_bad_shapes_raise(volume_shape: tuple[int, ...], filter_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        apply_fourier_filter(torch.zeros(volume_shape), torch.ones(filter_shape))
