"""Missing-wedge mask: symmetry, idempotence, measured fraction and handedness."""

import math

import pytest
import torch

from isonet2.errors import InputError
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.grids import centred_to_rfft
from isonet2.fourier.wedge import missing_wedge_mask


def negate(spectrum: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Centred index map j -> -j (mod N) on the given axes: flip, then roll by 1 for even N."""
    for dim in dims:
        spectrum = torch.flip(spectrum, (dim,))
        if spectrum.shape[dim] % 2 == 0:
            spectrum = torch.roll(spectrum, 1, dim)
    return spectrum


SHAPES = [(16, 16, 16), (15, 15, 15), (12, 16, 20), (13, 8, 9)]
RANGES = [(-60.0, 60.0), (-50.0, 65.0), (-30.0, 72.0)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tilts", RANGES)
def test_mask_is_friedel_symmetric_and_binary(
    shape: tuple[int, int, int], tilts: tuple[float, float]
) -> None:
    mask = missing_wedge_mask(shape, *tilts)
    assert mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask, negate(mask, (0, 1, 2)))
    assert torch.equal(missing_wedge_mask(shape, *tilts, rfft=True), centred_to_rfft(mask))


def test_mask_is_identical_along_y_inside_the_sphere() -> None:
    mask = missing_wedge_mask((32, 32, 32), -60.0, 60.0)
    plane = mask[:, 16, :]
    inside = missing_wedge_mask((32, 32, 32), -90.0, 90.0)  # sphere minus the kz column
    for y in range(32):
        assert torch.equal(mask[:, y, :], plane * inside[:, y, :])


def test_filtering_is_idempotent() -> None:
    volume = torch.randn(16, 16, 16, generator=torch.Generator().manual_seed(0))
    mask = missing_wedge_mask(volume.shape, -50.0, 65.0, rfft=True)
    once = apply_fourier_filter(volume, mask)
    assert torch.allclose(apply_fourier_filter(once, mask), once, atol=1e-6)


def test_rule_on_axes() -> None:
    n, c = 16, 8
    mask = missing_wedge_mask((n, n, n), -60.0, 60.0)
    assert torch.all(mask[c, c, :] == 1)  # kx row (kz = 0), the Nyquist end included
    column = mask[:, c, c]
    assert column[c] == 1 and column.sum() == 1  # kx = 0 column: only the origin
    assert mask[0, 0, 0] == 0  # corner, outside the sphere


def test_asymmetric_range_is_not_mirror_symmetric_and_mirrors_to_swapped_range() -> None:
    for shape in [(16, 16, 16), (15, 15, 15)]:
        mask = missing_wedge_mask(shape, -50.0, 65.0)
        mirrored = negate(mask, (2,))
        assert not torch.equal(mask, mirrored)
        assert torch.equal(mirrored, missing_wedge_mask(shape, -65.0, 50.0))
        assert torch.equal(negate(mask, (0,)), mirrored)


def test_measured_fraction_of_a_plane_is_the_tilt_range_over_180() -> None:
    n = 256
    mask = missing_wedge_mask((n, 1, n), -60.0, 60.0)[:, 0, :]
    k = torch.arange(n) - n // 2
    disk = ((k[:, None] ** 2 + k[None, :] ** 2) <= (n // 2) ** 2).float()
    assert float(mask.sum() / disk.sum()) == pytest.approx(2 / 3, abs=0.003)
    asym = missing_wedge_mask((n, 1, n), -40.0, 65.0)[:, 0, :]
    assert float(asym.sum() / disk.sum()) == pytest.approx(105 / 180, abs=0.003)


def test_measured_fraction_of_a_cube() -> None:
    n = 48
    mask = missing_wedge_mask((n, n, n), -60.0, 60.0)
    sphere = 4 / 3 * math.pi * (n / 2) ** 3 / n**3
    assert float(mask.mean()) == pytest.approx(2 / 3 * sphere, rel=0.01)


def test_angle_uses_physical_frequencies_for_non_cubic_shapes() -> None:
    shape = (16, 4, 32)  # kz = 4, kx = 8 is 45 degrees physically (index angle 26.6)
    centre = (8, 2, 16)
    voxel = (centre[0] + 4, centre[1], centre[2] + 8)
    assert missing_wedge_mask(shape, -50.0, 50.0)[voxel] == 1
    assert missing_wedge_mask(shape, -40.0, 40.0)[voxel] == 0


def test_handedness_matches_the_documented_projector() -> None:
    """Sum along z of v(z cos t + x sin t, -z sin t + x cos t) keeps the plane wave of frequency
    (kz, kx) = (sin t, cos t) and averages out (-sin t, cos t); the mask says the same."""
    n = 32
    tilt = math.atan2(1, 2)  # 26.57 degrees: the direction (kz, kx) = (1, 2)
    z = torch.arange(-8 * n, 8 * n, dtype=torch.float64)[:, None]
    x = torch.arange(n, dtype=torch.float64)[None, :] - n // 2
    z_src = z * math.cos(tilt) + x * math.sin(tilt)
    x_src = -z * math.sin(tilt) + x * math.cos(tilt)

    def projected_amplitude(kz: int, kx: int) -> float:
        wave = torch.cos(2 * math.pi * (kz * z_src + kx * x_src) / n)
        return float(wave.mean(dim=0).abs().max())

    assert projected_amplitude(1, 2) == pytest.approx(1.0, abs=1e-9)
    assert projected_amplitude(-1, 2) < 0.05
    mask = missing_wedge_mask((n, n, n), -10.0, 30.0)
    c = n // 2
    for m in (1, 2, 4):
        assert mask[c + m, c, c + 2 * m] == 1 and mask[c - m, c, c - 2 * m] == 1
        assert mask[c - m, c, c + 2 * m] == 0 and mask[c + m, c, c - 2 * m] == 0


@pytest.mark.parametrize("tilts", [(10.0, -10.0), (-95.0, 60.0), (-60.0, 91.0)])
def test_bad_tilt_range_raises(tilts: tuple[float, float]) -> None:
    with pytest.raises(InputError):
        missing_wedge_mask((8, 8, 8), *tilts)
