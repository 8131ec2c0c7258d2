"""The U-Net: exact parameter counts, shapes, global residual, compile and bf16 friendliness."""

import pytest
import torch
from torch import nn

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


def _un_tiny(seed: int = 0) -> UNet3d:
    torch.manual_seed(seed)
    return UNet3d(channels=[2, 3]).double().eval()  # depth 1: one skip, 2-voxel multiple


def test_the_upsampled_path_comes_first_and_the_skip_second() -> None:
    """With the transposed convolution zeroed, the first c input channels of each decoder's
    first convolution see only zeros: changing their weights must not change the output,
    while changing the skip's weights must."""
    net = _un_tiny()
    x = torch.randn(1, 1, 8, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        for up in net.up:
            up.weight.zero_()
            up.bias.zero_()
        before = net(x)
        first_conv = net.decoder[0][0]
        c = first_conv.in_channels // 2
        first_conv.weight[:, :c].normal_()  # the upsampled (all-zero) channels
        torch.testing.assert_close(net(x), before)
        first_conv.weight[:, c:].normal_()  # the skip channels
        assert not torch.allclose(net(x), before)


def test_every_activation_is_leaky_relu_of_slope_0_01() -> None:
    slopes = {
        m.negative_slope
        for m in UNet3d(channels=[2, 3, 4]).modules()
        if isinstance(m, nn.LeakyReLU)
    }
    assert slopes == {0.01}


def test_autograd_matches_a_finite_difference_through_the_skips() -> None:
    """d loss / d (encoder weights) along a random direction: autograd against a central
    difference. A detached skip (or any cut gradient path) makes them differ."""
    net = _un_tiny(1)
    x = torch.randn(1, 1, 8, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    weight = net.encoder[0][0].weight
    direction = torch.randn_like(weight)

    def loss() -> torch.Tensor:
        return (net(x) ** 2).sum()

    net.zero_grad()
    loss().backward()
    analytic = float((weight.grad * direction).sum())
    eps = 1e-6
    with torch.no_grad():
        weight += eps * direction
        up = float(loss())
        weight -= 2 * eps * direction
        down = float(loss())
        weight += eps * direction
    numeric = (up - down) / (2 * eps)
    assert abs(analytic - numeric) <= 1e-5 * max(1.0, abs(numeric))
