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

With `mirrors=True` the mirror images join them: flipping Y alone (ky -> -ky) keeps any wedge,
since the wedge is the same on every ky plane, and flipping X or Z alone keeps a symmetric one.
That doubles the orientations (8 for a symmetric range, 4 otherwise). A mirror image reverses
handedness, which training never shows the network (it rotates only), so this is a choice the
user makes; the mask of every listed flip is checked against the wedge in the tests.
"""

from __future__ import annotations

import torch
from torch import nn

# each symmetry as the (batch, channel, Z, Y, X) dimensions it flips
Flips = tuple[int, ...]
ROTATE_180_ABOUT_Y: Flips = (2, 4)
ROTATE_180_ABOUT_X: Flips = (2, 3)
ROTATE_180_ABOUT_Z: Flips = (3, 4)
MIRROR_Y: Flips = (3,)
SYMMETRIC_TOLERANCE_DEG = 0.5


def wedge_preserving_rotations(
    tilt_min_deg: float, tilt_max_deg: float, mirrors: bool = False
) -> list[Flips]:
    """The non-identity 180° rotations (and, with `mirrors`, the mirror images) that map this
    tilt range's wedge onto itself."""
    rotations = [ROTATE_180_ABOUT_Y]
    if abs(tilt_min_deg + tilt_max_deg) <= SYMMETRIC_TOLERANCE_DEG:
        rotations += [ROTATE_180_ABOUT_X, ROTATE_180_ABOUT_Z]
    if not mirrors:
        return rotations
    # composing with the Y mirror: a flip of Y cancels against a rotation's flip of Y
    mirrored = [tuple(sorted(set(r) ^ set(MIRROR_Y))) for r in rotations]
    return [*rotations, MIRROR_Y, *mirrored]


class RotationAverage(nn.Module):
    """f averaged over the identity and `rotations`: mean of R⁻¹ f(R x) (R a flip: R⁻¹ = R)."""

    def __init__(self, network: nn.Module, rotations: list[Flips]) -> None:
        super().__init__()
        self.network = network
        self.rotations = list(rotations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.network(x)
        for dims in self.rotations:
            total = total + self.network(x.flip(dims)).flip(dims)
        return total / (1 + len(self.rotations))
