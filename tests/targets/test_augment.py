"""Rotations keep volumes and wedge masks consistent; noise has the asked std inside the wedge."""

import pytest
import torch
from target_helpers import spectrum_energy

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.rotations import random_rotation_matrices
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.targets.augment import (
    ArbitraryRotation,
    CubeRotation,
    Mirrored,
    draw_rotation,
    noise_amplitude,
    rotated_mask_rfft,
    wedge_noise,
)

C = 16
SHAPE = (C, C, C)


def _wedge_filtered_noise(b: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    wedge = missing_wedge_mask(SHAPE, -50.0, 65.0, rfft=True)
    centred = missing_wedge_mask(SHAPE, -50.0, 65.0).expand(b, 1, *SHAPE)
    noise = torch.randn(b, 1, *SHAPE, generator=torch.Generator().manual_seed(seed))
    return apply_fourier_filter(noise, wedge), wedge, centred


@pytest.mark.parametrize("k", range(24))
def test_cube_rotation_moves_spectrum_onto_rotated_wedge(k: int) -> None:
    volumes, _, centred = _wedge_filtered_noise(2, seed=k)
    rotation = CubeRotation(k)
    rotated_wedge = rotated_mask_rfft(rotation, centred)
    assert set(rotated_wedge.unique().tolist()) <= {0.0, 1.0}
    rotated = rotation.volumes(volumes)
    outside = spectrum_energy(rotated, 1.0 - rotated_wedge)
    assert (outside / spectrum_energy(rotated, torch.ones_like(rotated_wedge)) < 1e-10).all()
    assert torch.equal(rotation.centred_masks(centred).sum(), centred.sum())  # a permutation


@pytest.mark.parametrize("k", [0, 5, 17])
def test_a_mirrored_cube_rotation_moves_spectrum_onto_its_mirrored_wedge(k: int) -> None:
    """An asymmetric wedge (-50..65) is not its own mirror image: volume and mask must agree."""
    volumes, _, centred = _wedge_filtered_noise(2, seed=k)
    mirrored, plain = Mirrored(CubeRotation(k)), CubeRotation(k)
    rotated_wedge = rotated_mask_rfft(mirrored, centred)
    assert set(rotated_wedge.unique().tolist()) <= {0.0, 1.0}
    if k == 0:  # unrotated, the mirror swaps the wedge's two unequal sides
        assert not torch.equal(rotated_wedge, rotated_mask_rfft(plain, centred))
    rotated = mirrored.volumes(volumes)
    outside = spectrum_energy(rotated, 1.0 - rotated_wedge)
    assert (outside / spectrum_energy(rotated, torch.ones_like(rotated_wedge)) < 1e-10).all()
    # x -> -x of the rotated cube, voxel for voxel, about index C//2
    expected = plain.volumes(volumes)
    assert torch.equal(rotated[..., C // 2 + 1 :], expected[..., 1 : C // 2].flip(-1))
    assert torch.equal(rotated[..., C // 2], expected[..., C // 2])


def test_a_mirrored_arbitrary_rotation_mostly_lines_up() -> None:
    volumes, _, centred = _wedge_filtered_noise(2, seed=0)
    matrix = torch.tensor([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])
    rotation = Mirrored(ArbitraryRotation(matrix))
    rotated_wedge = rotated_mask_rfft(rotation, centred)
    assert set(rotated_wedge.unique().tolist()) == {0.0, 1.0}
    rotated = rotation.volumes(volumes)
    total = spectrum_energy(rotated, torch.ones_like(rotated_wedge))
    assert (spectrum_energy(rotated, 1.0 - rotated_wedge) / total < 0.3).all()


def test_arbitrary_rotation_mostly_lines_up_and_stays_binary() -> None:
    volumes, wedge, centred = _wedge_filtered_noise(2, seed=0)
    matrix = torch.tensor([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])
    rotation = ArbitraryRotation(matrix)
    rotated_wedge = rotated_mask_rfft(rotation, centred)
    assert set(rotated_wedge.unique().tolist()) == {0.0, 1.0}
    rotated = rotation.volumes(volumes)
    total = spectrum_energy(rotated, torch.ones_like(rotated_wedge))
    # trilinear resampling blurs the edge: most, not all, energy follows the rotated mask
    assert (spectrum_energy(rotated, 1.0 - rotated_wedge) / total < 0.3).all()
    assert (spectrum_energy(rotated, 1.0 - wedge) / total > 0.4).all()


def test_draw_rotation_policy_and_determinism() -> None:
    def draws(weight: float, seed: int, n: int = 400) -> list[object]:
        gen = torch.Generator().manual_seed(seed)
        return [draw_rotation(weight, gen) for _ in range(n)]

    cube_only = draws(0.0, 1)
    assert all(isinstance(r, CubeRotation) and 1 <= r.index <= 23 for r in cube_only)
    assert {r.index for r in cube_only if isinstance(r, CubeRotation)} == set(range(1, 24))
    assert all(isinstance(r, ArbitraryRotation) for r in draws(1.0, 2, n=20))
    mixed = draws(0.2, 3)
    share = sum(isinstance(r, ArbitraryRotation) for r in mixed) / len(mixed)
    assert 0.13 < share < 0.27
    again = draws(0.2, 3)
    for a, b in zip(mixed, again, strict=True):
        if isinstance(a, ArbitraryRotation):
            assert isinstance(b, ArbitraryRotation) and torch.equal(a.matrix, b.matrix)
        else:
            assert a == b


def test_mirrors_mirror_half_the_batches_and_leave_the_other_draws_alone() -> None:
    plain_gen, mirror_gen = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    plain = [draw_rotation(0.0, plain_gen) for _ in range(400)]
    with_mirrors = [draw_rotation(0.0, mirror_gen, mirrors=True) for _ in range(400)]
    share = sum(isinstance(r, Mirrored) for r in with_mirrors) / len(with_mirrors)
    assert 0.42 < share < 0.58
    inner = [r.rotation if isinstance(r, Mirrored) else r for r in with_mirrors]
    assert all(isinstance(r, CubeRotation) for r in inner)
    assert {r.index for r in inner if isinstance(r, CubeRotation)} == set(range(1, 24))
    # off (the default), the draws are those made before mirrors existed: seeds replay runs
    before = torch.Generator().manual_seed(4)
    indices = []
    for _ in range(400):
        torch.rand((), generator=before)  # arbitrary or not
        indices.append(int(torch.randint(1, 24, (), generator=before)))
    assert plain == [CubeRotation(index) for index in indices]


@pytest.mark.parametrize("mode", ["None", "ramp", "hamming"])
def test_wedge_noise_has_requested_std_inside_wedge(mode: str) -> None:
    wedge = missing_wedge_mask(SHAPE, -45.0, 60.0, rfft=True)
    std = torch.tensor([0.5, 2.0]).reshape(2, 1, 1, 1, 1)
    gen = torch.Generator().manual_seed(4)
    noise = wedge_noise((2, 1, *SHAPE), wedge * noise_amplitude(mode, C), std, gen)
    torch.testing.assert_close(noise.std(dim=(1, 2, 3, 4)), std.flatten(), rtol=1e-5, atol=0)
    outside = spectrum_energy(noise, 1.0 - wedge) / spectrum_energy(noise, torch.ones_like(wedge))
    assert (outside < 1e-10).all()


def test_noise_amplitudes() -> None:
    flat, ramp, hamming = (noise_amplitude(m, C) for m in ("None", "ramp", "hamming"))
    assert flat.shape == (C, C, C // 2 + 1) and torch.equal(flat, torch.ones_like(flat))
    assert ramp[0, 0, 0] == 0 and hamming[0, 0, 0] == 0
    # constant along the tilt axis ky, growing with the frequency perpendicular to it
    assert torch.equal(ramp[:, 0], ramp[:, 5])
    assert ramp[0, 0, 4] > ramp[0, 0, 2] > 0
    assert (hamming <= ramp + 1e-6).all()
    assert hamming[0, 0, C // 2] < 0.1 * ramp[0, 0, C // 2]


@pytest.mark.parametrize("tilts", [(-60.0, 60.0), (-40.0, 55.0)])
def test_rotated_wedge_keeps_its_measured_volume(tilts) -> None:
    c = 32
    mask = missing_wedge_mask((c, c, c), *tilts).reshape(1, 1, c, c, c)
    for matrix in random_rotation_matrices(4, torch.Generator().manual_seed(0)):
        rotated = ArbitraryRotation(matrix).centred_masks(mask)
        assert set(rotated.unique().tolist()) <= {0.0, 1.0}
        assert float(rotated.sum() / mask.sum()) == pytest.approx(1.0, abs=0.03)
