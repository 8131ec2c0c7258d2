"""The U-Net: exact parameter counts, shapes, global residual, compile and bf16 friendliness."""

import pytest
import torch

from isonet2.nn.registry import build_model
from isonet2.nn.unet import UNet3d

PARAMETER_COUNTS = {
    "unet-small": 8_353_889,
    "unet-medium": 23_989_825,  # the published IsoNet2 unet-medium
    "unet-large": 44_761_537,
}


def _n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("arch", "count"), PARAMETER_COUNTS.items())
def test_parameter_count(arch: str, count: int) -> None:
    with torch.device("meta"):
        model = build_model(arch)
    assert _n_parameters(model) == count


@pytest.mark.parametrize("arch", ["unet-small", "unet-medium"])
def test_forward_keeps_shape_and_dtype(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch)
    x = torch.randn(2, 1, 32, 32, 32)
    y = model(x)
    assert y.shape == x.shape
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


def test_unet_large_shape_on_meta_device() -> None:
    with torch.device("meta"):
        model = build_model("unet-large")
        y = model(torch.empty(2, 1, 32, 48, 64))
    assert y.shape == (2, 1, 32, 48, 64)


def test_zero_head_makes_identity() -> None:
    torch.manual_seed(0)
    model = build_model("unet-small").eval()
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), x)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = UNet3d(channels=[4, 8, 8, 8, 8])
    model(torch.randn(2, 1, 32, 32, 32)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_channels_last_matches_contiguous() -> None:
    torch.manual_seed(0)
    model = UNet3d(channels=[4, 8, 8, 8, 8]).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last_3d)
        got = model(x.to(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_traces_as_one_graph() -> None:
    torch.manual_seed(0)
    model = UNet3d(channels=[4, 8, 8, 8, 8]).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


def test_too_few_levels_rejected() -> None:
    with pytest.raises(ValueError, match="at least two levels"):
        UNet3d(channels=[16])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_autocast_close_to_fp32() -> None:
    torch.manual_seed(0)
    model = build_model("unet-small").cuda().eval()
    model = model.to(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 1, 64, 64, 64, device="cuda")
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            mixed = model(x)
    assert mixed.dtype == torch.float32  # the residual sum promotes back to the input's dtype
    rel = (mixed - reference).norm() / (reference - x).norm()
    assert rel < 0.05
