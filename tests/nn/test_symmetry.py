"""Rotation averaging: which rotations keep the wedge, and the average's invariants."""

from __future__ import annotations

import torch

from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.nn.symmetry import (
    ROTATE_180_ABOUT_Y,
    RotationAverage,
    wedge_preserving_rotations,
)


def _rotate_mask(mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """The Fourier mask of a volume after flipping `dims` (of a 5-D tensor) in real space."""
    axes = tuple(d - 2 for d in dims)
    # a real-space flip of an even-length axis maps Fourier index j to (N - j) mod N
    return torch.roll(mask.flip(axes), shifts=tuple(1 for _ in axes), dims=axes)


def test_the_listed_rotations_map_the_wedge_onto_itself():
    shape = (32, 32, 32)
    for tilt_min, tilt_max, count in ((-60, 60, 3), (-50, 65, 1)):
        rotations = wedge_preserving_rotations(tilt_min, tilt_max)
        assert len(rotations) == count
        mask = missing_wedge_mask(shape, tilt_min, tilt_max)
        for dims in rotations:
            assert torch.equal(_rotate_mask(mask, dims), mask), (tilt_min, tilt_max, dims)


def test_the_listed_mirror_images_map_the_wedge_onto_itself():
    shape = (32, 32, 32)
    for tilt_min, tilt_max, count in ((-60, 60, 7), (-50, 65, 3)):
        flips = wedge_preserving_rotations(tilt_min, tilt_max, mirrors=True)
        assert len(flips) == count and len(set(flips)) == count
        assert set(wedge_preserving_rotations(tilt_min, tilt_max)) < set(flips)
        mask = missing_wedge_mask(shape, tilt_min, tilt_max)
        for dims in flips:
            assert torch.equal(_rotate_mask(mask, dims), mask), (tilt_min, tilt_max, dims)
    # mirroring X alone moves an asymmetric wedge, so it is not listed there
    asymmetric = missing_wedge_mask(shape, -50, 65)
    assert not torch.equal(_rotate_mask(asymmetric, (4,)), asymmetric)


def test_the_mirrored_average_is_invariant_under_every_listed_flip():
    torch.manual_seed(1)
    net = torch.nn.Conv3d(1, 1, 3, padding=1)
    flips = wedge_preserving_rotations(-60, 60, mirrors=True)
    averaged = RotationAverage(net, flips)
    x = torch.randn(1, 1, 8, 8, 8)
    for dims in flips:
        torch.testing.assert_close(averaged(x.flip(dims)).flip(dims), averaged(x))


def test_mirroring_rotations_are_left_out_because_they_move_an_asymmetric_wedge():
    mask = missing_wedge_mask((32, 32, 32), -50, 65)
    assert not torch.equal(_rotate_mask(mask, (2, 3)), mask)


def test_the_average_of_an_equivariant_network_is_the_network():
    net = torch.nn.Conv3d(1, 1, 1, bias=False)  # a 1x1x1 convolution commutes with flips
    x = torch.randn(2, 1, 8, 8, 8)
    averaged = RotationAverage(net, wedge_preserving_rotations(-60, 60))
    torch.testing.assert_close(averaged(x), net(x))


def test_the_average_is_invariant_under_its_own_rotations():
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 1, 3, padding=1)  # not flip-equivariant
    averaged = RotationAverage(net, [ROTATE_180_ABOUT_Y])
    x = torch.randn(1, 1, 8, 8, 8)
    dims = ROTATE_180_ABOUT_Y
    torch.testing.assert_close(averaged(x.flip(dims)).flip(dims), averaged(x))
    assert not torch.allclose(net(x.flip(dims)).flip(dims), net(x))
