"""Missing-wedge mask of a single-axis tilt series about Y (ALGORITHM §3).

Example:
    mask = missing_wedge_mask((96, 96, 96), tilt_min_deg=-50.0, tilt_max_deg=65.0, rfft=True)
    measured_only = apply_fourier_filter(cube, mask)     # isonet2.fourier.filters

The mask is float32, 1 = measured, 0 = missing, binary, identical along ky. Shapes: (z, y, x) in
the centred layout, (z, y, x//2+1) with ``rfft=True`` (see ``isonet2.fourier.grids``).

Rule, on every (kz, kx) plane of the centred spectrum (kz, kx signed integer frequency indices):

- the kx axis row (kz = 0) is measured;
- a point with kx != 0 is measured when theta = atan(|kz'| / |kx'|) < tilt_max where kz and kx have
  the same sign, and theta < -tilt_min where their signs differ (kz' = kz / Nz, kx' = kx / Nx are
  the frequencies in cycles/pixel, so a non-cubic volume gets the physical angle);
- the kx = 0 column (kz != 0) is missing;
- finally every voxel outside the ellipsoid with semi-axes N_i // 2 index units (the sphere of
  radius N//2 for a cube; sum_i (k_i / (N_i//2))^2 <= 1, axes of length 1 ignored) is missing,
  so ``1 - mask`` also covers the cube's corners.

Handedness, the convention a tilt-series simulator must follow to match this mask:

    The image at tilt t (degrees, positive or negative) is the sum along z of the volume
    rotated about Y by
        v_t(z, y, x) = v(z * cos t + x * sin t,  y,  -z * sin t + x * cos t)
    with (z, x) measured from the rotation centre. Equivalently it integrates the original volume
    along the direction (z, x) = (cos t, -sin t), and by the projection-slice theorem it measures
    the central plane containing ky and the direction (kz, kx) = (sin t, cos t). Positive tilts
    therefore fill the quadrants where kz and kx share a sign (up to tilt_max), negative tilts
    those where the signs differ (down to tilt_min); for tilt_min <= 0 <= tilt_max the mask is the
    union of these planes for t in [tilt_min, tilt_max] (a range without 0 follows the rule above
    literally). Mirroring kx -> -kx maps the mask of [a, b] to that of [-b, -a].
"""

import math
from collections.abc import Sequence

import torch

from isonet2.errors import InputError
from isonet2.fourier.grids import Device, frequency_indices


def _check_tilts(tilt_min_deg: float, tilt_max_deg: float) -> None:
    if not (-90 <= tilt_min_deg <= tilt_max_deg <= 90):
        raise InputError(
            f"tilt range [{tilt_min_deg}, {tilt_max_deg}] must satisfy "
            "-90 <= tilt_min <= tilt_max <= 90 (degrees)"
        )


def missing_wedge_mask(
    shape: Sequence[int],
    tilt_min_deg: float,
    tilt_max_deg: float,
    *,
    rfft: bool = False,
    device: Device = None,
    cut_corners: bool = True,
) -> torch.Tensor:
    """Measured region (1) of the spectrum of a (z, y, x) volume tilted over [tilt_min, tilt_max].

    Comparisons use exact integer arithmetic, or float64 products of integers with tan(tilt), so
    the mask is bit-identical on every device.

    Args:
        shape: real-space shape (z, y, x).
        tilt_min_deg: lowest tilt angle, degrees (e.g. -60).
        tilt_max_deg: highest tilt angle, degrees (e.g. 60).
        rfft: False for the centred layout (z, y, x); True for the rfft layout (z, y, x//2+1).
        device: where the mask lives.
        cut_corners: True (training, prediction): frequencies beyond the Nyquist sphere
            (ellipsoid in indices) count as missing too; False: the tilt angles alone decide
            (evaluate, whose outermost shell reaches half a voxel beyond that sphere).

    Returns:
        float32 mask, 1 = measured, 0 = missing.
    """
    if len(shape) != 3:
        raise ValueError(f"missing_wedge_mask needs a (z, y, x) shape, got {tuple(shape)}")
    _check_tilts(tilt_min_deg, tilt_max_deg)
    nz, _, nx = shape
    kz, ky, kx = frequency_indices(shape, rfft=rfft, device=device)

    # |kz'| < tan(t) * |kx'|  <=>  |kz| * Nx < tan(t) * |kx| * Nz   (kz' = kz / Nz, kx' = kx / Nx)
    lhs = (kz.abs() * nx).to(torch.float64)
    rhs_unit = (kx.abs() * nz).to(torch.float64)
    same_sign = (kz * kx) > 0
    tan_max = math.tan(math.radians(tilt_max_deg))
    tan_min = math.tan(math.radians(-tilt_min_deg))
    inside_positive = lhs < tan_max * rhs_unit
    inside_negative = lhs < tan_min * rhs_unit
    measured = torch.where(same_sign, inside_positive, inside_negative) & (kx != 0)
    measured = measured | (kz == 0)

    if not cut_corners:  # the angles do not depend on ky: broadcast to the whole grid
        full = torch.broadcast_shapes(kz.shape, ky.shape, kx.shape)
        return measured.expand(full).to(torch.float32).contiguous()
    semi = [max(n // 2, 1) for n in shape]
    product = semi[0] ** 2 * semi[1] ** 2 * semi[2] ** 2
    ellipsoid = (
        kz * kz * (product // semi[0] ** 2)
        + ky * ky * (product // semi[1] ** 2)
        + kx * kx * (product // semi[2] ** 2)
    ) <= product
    return (measured & ellipsoid).to(torch.float32)
