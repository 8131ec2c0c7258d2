"""The 3D U-Net of IsoNet2: depth 4, three convolutions per level, global residual.

Example:
    import torch
    from isonet2.nn.unet import UNet3d

    net = UNet3d(channels=[32, 64, 128, 256, 320])  # unet-medium: 23,989,825 parameters
    y = net(torch.randn(2, 1, 96, 96, 96))  # (b, 1, z, y, x) -> same shape

Layout, for channels c0..c4 (one per level, c4 = bottleneck):

    stem       Conv3d(1 -> c0, 3³, bias)                      no norm, no activation
    level i    3 x [Conv3d(3³, no bias) -> BatchNorm3d -> LeakyReLU(0.01)]   i = 0..3
    down i     Conv3d(ci -> ci+1, 2³, stride 2, no bias) -> BatchNorm3d -> LeakyReLU
    bottleneck 2 x [Conv3d(c4 -> c4, 3³, no bias) -> BatchNorm3d -> LeakyReLU]
    up i       ConvTranspose3d(ci+1 -> ci, 2³, stride 2, bias); concat with the level-i skip
               (2·ci channels) -> LeakyReLU
    decoder i  3 x [Conv3d(3³, no bias) -> BatchNorm3d -> LeakyReLU], the first 2·ci -> ci
    head       Conv3d(c0 -> 1, 3³, bias)
    output     input + head

These choices reproduce the published parameter count of unet-medium exactly (23,989,825),
and they are the only mix of the options below that does:
the convolutions followed by BatchNorm carry no bias (the norm's shift replaces it), while
the stem, the transposed convolutions and the head, which no norm follows, keep theirs; the
bottleneck runs two convolutions (the stride-2 convolution entering it plays the part of the
third); each decoder level's first convolution reduces the concatenated 2·ci channels to ci.
The spatial size of the input must be divisible by 2**depth = 16.
"""

import itertools
import logging
from collections.abc import Sequence

import torch
from torch import nn

logger = logging.getLogger(__name__)

NEGATIVE_SLOPE = 0.01
CONVS_PER_LEVEL = 3
BOTTLENECK_CONVS = 2


def _conv_block(in_channels: int, out_channels: int, n_convs: int) -> nn.Sequential:
    """n_convs x (3³ conv without bias, BatchNorm3d, LeakyReLU); the first maps in -> out."""
    layers: list[nn.Module] = []
    for i in range(n_convs):
        layers += [
            nn.Conv3d(
                in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False
            ),
            nn.BatchNorm3d(out_channels),
            nn.LeakyReLU(NEGATIVE_SLOPE),
        ]
    return nn.Sequential(*layers)


class UNet3d(nn.Module):
    """3D U-Net with a global residual connection: f(x) = x + head(features(x)).

    Args:
        channels: feature channels per level, shallowest first; the last is the bottleneck.
            Depth is len(channels) - 1, and the input's z, y, x must be divisible by
            2**depth.

    Shapes:
        input (b, 1, z, y, x) float -> output (b, 1, z, y, x), same dtype as the input
        (under autocast the head runs in reduced precision and the sum is promoted back).
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2:
            raise ValueError(f"UNet3d needs at least two levels of channels, got {channels}")
        self.depth = len(channels) - 1
        self.stem = nn.Conv3d(1, channels[0], 3, padding=1, bias=True)
        self.encoder = nn.ModuleList(_conv_block(c, c, CONVS_PER_LEVEL) for c in channels[:-1])
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv3d(c_in, c_out, 2, stride=2, bias=False),
                nn.BatchNorm3d(c_out),
                nn.LeakyReLU(NEGATIVE_SLOPE),
            )
            for c_in, c_out in itertools.pairwise(channels)
        )
        self.bottleneck = _conv_block(channels[-1], channels[-1], BOTTLENECK_CONVS)
        # Decoder modules are stored deepest level first, the order forward() visits them.
        pairs = list(itertools.pairwise(channels))[::-1]
        self.up = nn.ModuleList(
            nn.ConvTranspose3d(c_deep, c, 2, stride=2, bias=True) for c, c_deep in pairs
        )
        self.merge = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.decoder = nn.ModuleList(_conv_block(2 * c, c, CONVS_PER_LEVEL) for c, _ in pairs)
        self.head = nn.Conv3d(channels[0], 1, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (b, 1, z, y, x) to (b, 1, z, y, x); z, y, x divisible by 2**depth."""
        h = self.stem(x)
        skips: list[torch.Tensor] = []
        for block, down in zip(self.encoder, self.down, strict=True):
            h = block(h)
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h)
        for up, block, skip in zip(self.up, self.decoder, reversed(skips), strict=True):
            h = block(self.merge(torch.cat((up(h), skip), dim=1)))
        return x + self.head(h)
