"""Averaging a network over the rotations that leave the missing wedge where it is.

Example:
    rotations = wedge_preserving_rotations(tilt_min_deg=-60, tilt_max_deg=60)  # 4 of them
    averaged = RotationAverage(net, rotations)
    output = averaged(tiles)          # mean of R⁻¹ f(R x) over the rotations

Volumes are (batch, channel, Z, Y, X) with the tilt axis along Y. A 180° rotation about Y maps
every measured central section onto itself (kx, kz -> -kx, -kz), so it keeps any wedge. A 180°
rotation about X or about Z mirrors the tilt angles (θ -> -θ), which keeps the wedge only when
the tilt range is symmetric. These rotations are proper (no mirror images) and exact on the voxel
grid (two axis flips each), so the network sees inputs exactly like its training inputs and
the average only removes the part of its guess that depends on orientation.
"""

from __future__ import annotations

import torch
from torch import nn

# each rotation as the pair of (batch, channel, Z, Y, X) dimensions it flips
ROTATE_180_ABOUT_Y = (2, 4)
ROTATE_180_ABOUT_X = (2, 3)
ROTATE_180_ABOUT_Z = (3, 4)
SYMMETRIC_TOLERANCE_DEG = 0.5


def wedge_preserving_rotations(tilt_min_deg: float, tilt_max_deg: float) -> list[tuple[int, int]]:
    """The non-identity 180° rotations that map this tilt range's wedge onto itself."""
    rotations = [ROTATE_180_ABOUT_Y]
    if abs(tilt_min_deg + tilt_max_deg) <= SYMMETRIC_TOLERANCE_DEG:
        rotations += [ROTATE_180_ABOUT_X, ROTATE_180_ABOUT_Z]
    return rotations


class RotationAverage(nn.Module):
    """f averaged over the identity and `rotations`: mean of R⁻¹ f(R x)."""

    def __init__(self, network: nn.Module, rotations: list[tuple[int, int]]) -> None:
        super().__init__()
        self.network = network
        self.rotations = list(rotations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.network(x)
        for dims in self.rotations:
            total = total + self.network(x.flip(dims)).flip(dims)
        return total / (1 + len(self.rotations))
