"""Score a map against a reference: correlation, FSC, in/out-of-wedge FSC and Z/X anisotropy.

Example:
    scores = evaluate(restored, ground_truth, pixel_size_angstrom=10.0,
                      tilt_min_deg=-60.0, tilt_max_deg=60.0)
    scores.correlation, scores.mean_fsc_in_wedge, scores.resolution_z_angstrom
    json.dumps(scores.as_dict())

Volumes are (z, y, x), Z the beam, Y the tilt axis; they may be memory maps of any size. The
correlation streams over the whole volume in slabs; every Fourier number uses the central crop
of at most `MAX_FSC_SIDE` voxels per side (`Evaluation.fsc_shape`), so memory stays bounded.

- correlation: Pearson r over all voxels; `scale` is the least-squares s of
  reference ≈ s·volume + c (r itself does not depend on s or c).
- FSC (`isonet2.fourier.fsc`, one-voxel shells up to Nyquist; the zero-frequency shell is
  left out of every curve and number) and its 0.5 and 0.143 resolutions (where the curve,
  once at or above the threshold, first falls below it).
  Mean FSCs average the shells 1..Nyquist: over all voxels, inside the missing wedge of the
  tilt range (the frequencies its tilt angles never measure, `missing_wedge_mask` without
  its cut at the Nyquist sphere: the last shell reaches half a voxel beyond it, and the
  corners beyond that lie outside every shell) and outside it (the measured region).
- anisotropy: the FSC restricted to cones of ±`CONE_HALF_ANGLE_DEG` around the kz axis (detail
  along Z) and around the kx axis (detail along X), and their 0.143 resolutions. For a raw
  tomogram with tilts within ±60° the kz cone lies inside the missing wedge.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from isonet2.fourier.fsc import (
    central_bounds,
    fourier_shell_correlations,
    resolution_at_threshold,
)
from isonet2.fourier.grids import frequency_indices
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.io.pages import release_pages

logger = logging.getLogger(__name__)

MAX_FSC_SIDE = 256
CONE_HALF_ANGLE_DEG = 30.0
_SLAB = 16

Curve = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    """The scores of one map against its reference; resolutions in Å (inf: never reached)."""

    correlation: float
    scale: float
    resolution_fsc05_angstrom: float
    resolution_fsc0143_angstrom: float
    mean_fsc: float
    mean_fsc_in_wedge: float
    mean_fsc_out_of_wedge: float
    resolution_z_angstrom: float
    resolution_x_angstrom: float
    fsc_shape: tuple[int, int, int]
    """(z, y, x) of the central crop the Fourier numbers were computed on."""
    curves: dict[str, Curve] = field(repr=False)
    """name -> (frequency in cycles/pixel, FSC) from shell 1 to Nyquist: "all", "in wedge",
    "out of wedge", "Z cone", "X cone"."""

    @property
    def anisotropy(self) -> float:
        """Resolution along Z / along X: 1 is isotropic; inf when Z never reaches 0.143."""
        if math.isinf(self.resolution_x_angstrom):
            return math.nan
        return self.resolution_z_angstrom / self.resolution_x_angstrom

    def as_dict(self) -> dict[str, object]:
        """JSON-ready numbers, rounded for reading; inf and nan become None."""
        values: dict[str, float] = {
            "correlation": self.correlation,
            "scale": self.scale,
            "mean_fsc": self.mean_fsc,
            "mean_fsc_in_wedge": self.mean_fsc_in_wedge,
            "mean_fsc_out_of_wedge": self.mean_fsc_out_of_wedge,
            "resolution_fsc05_angstrom": self.resolution_fsc05_angstrom,
            "resolution_fsc0143_angstrom": self.resolution_fsc0143_angstrom,
            "resolution_z_angstrom": self.resolution_z_angstrom,
            "resolution_x_angstrom": self.resolution_x_angstrom,
            "anisotropy_z_over_x": self.anisotropy,
        }
        out: dict[str, object] = {
            name: round(value, 2 if name.endswith("angstrom") else 4)
            if math.isfinite(value)
            else None
            for name, value in values.items()
        }
        out["fsc_shape"] = list(self.fsc_shape)
        return out


def central_crop(volume: np.ndarray, max_side: int = MAX_FSC_SIDE) -> np.ndarray:
    """The central block of at most `max_side` voxels per axis, as a writable float32 copy."""
    block = tuple(slice(a, b) for a, b in central_bounds(volume.shape, max_side))
    return np.array(volume[block], dtype=np.float32)


def scaled_correlation(volume: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(Pearson r, least-squares scale s of reference ≈ s·volume + c), streamed over Z slabs.

    Two passes in float64 (means, then centred sums), so a memory map is never loaded whole.
    A constant volume or reference gives r = 0 (and s = 0 for a constant volume).
    """
    _check_shapes(volume, reference)
    count = volume.size
    mean_v = mean_r = 0.0
    for v, r in _slabs(volume, reference):
        mean_v += v.sum() / count
        mean_r += r.sum() / count
    var_v = var_r = cov = 0.0
    for v, r in _slabs(volume, reference):
        dv, dr = v - mean_v, r - mean_r
        var_v += float(np.dot(dv.ravel(), dv.ravel()))
        var_r += float(np.dot(dr.ravel(), dr.ravel()))
        cov += float(np.dot(dv.ravel(), dr.ravel()))
    if var_v <= 0 or var_r <= 0:
        return 0.0, cov / var_v if var_v > 0 else 0.0
    return cov / math.sqrt(var_v * var_r), cov / var_v


def cone_mask(shape: Sequence[int], axis: int, half_angle_deg: float) -> torch.Tensor:
    """Centred (z, y, x) mask: 1 where the frequency is within `half_angle_deg` of ±axis `axis`.

    Angles use the frequencies in cycles/pixel (index / N per axis), so they are physical for
    non-cubic shapes; the zero frequency is inside every cone.
    """
    freqs = [
        index.to(torch.float64) / n
        for index, n in zip(frequency_indices(shape), shape, strict=True)
    ]
    radius_sq = freqs[0] ** 2 + freqs[1] ** 2 + freqs[2] ** 2
    along_sq = freqs[axis] ** 2 * torch.ones_like(radius_sq)
    cos_sq = math.cos(math.radians(half_angle_deg)) ** 2
    return (along_sq >= cos_sq * radius_sq).to(torch.float32)


def evaluate(
    volume: np.ndarray,
    reference: np.ndarray,
    *,
    pixel_size_angstrom: float,
    tilt_min_deg: float,
    tilt_max_deg: float,
    max_side: int = MAX_FSC_SIDE,
) -> Evaluation:
    """Score `volume` against `reference` (same (z, y, x) shape); see the module docstring."""
    _check_shapes(volume, reference)
    correlation, scale = scaled_correlation(volume, reference)
    a = torch.from_numpy(central_crop(volume, max_side))
    b = torch.from_numpy(central_crop(reference, max_side))
    shape = tuple(a.shape)
    if shape != tuple(volume.shape):
        logger.info("FSC on the central %s crop of the %s volume", shape, tuple(volume.shape))
    # by angle alone: the outermost shell holds voxels up to half a voxel beyond the Nyquist
    # sphere, which the training mask counts as missing; here the measured ones are measured
    wedge = missing_wedge_mask(shape, tilt_min_deg, tilt_max_deg, cut_corners=False)
    masks: dict[str, torch.Tensor | None] = {
        "all": None,
        "in wedge": 1.0 - wedge,
        "out of wedge": wedge,
        "Z cone": cone_mask(shape, 0, CONE_HALF_ANGLE_DEG),
        "X cone": cone_mask(shape, 2, CONE_HALF_ANGLE_DEG),
    }
    # the zero-frequency shell says nothing of detail
    curves = {
        name: (freq[1:], fsc[1:])
        for name, (freq, fsc) in fourier_shell_correlations(a, b, masks).items()
    }

    def resolution(name: str, threshold: float) -> float:
        freq, fsc = curves[name]
        return resolution_at_threshold(freq, fsc, threshold, pixel_size_angstrom)

    def mean(name: str) -> float:
        return float(curves[name][1].mean())

    return Evaluation(
        correlation=correlation,
        scale=scale,
        resolution_fsc05_angstrom=resolution("all", 0.5),
        resolution_fsc0143_angstrom=resolution("all", 0.143),
        mean_fsc=mean("all"),
        mean_fsc_in_wedge=mean("in wedge"),
        mean_fsc_out_of_wedge=mean("out of wedge"),
        resolution_z_angstrom=resolution("Z cone", 0.143),
        resolution_x_angstrom=resolution("X cone", 0.143),
        fsc_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        curves={name: (freq.numpy(), fsc.numpy()) for name, (freq, fsc) in curves.items()},
    )


def _check_shapes(volume: np.ndarray, reference: np.ndarray) -> None:
    if volume.ndim != 3 or volume.shape != reference.shape:
        raise ValueError(
            f"need two (z, y, x) volumes of one shape, got {volume.shape} and {reference.shape}"
        )


def _slabs(volume: np.ndarray, reference: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Matching Z slabs of both volumes as float64, one at a time; the pages of memory-mapped
    volumes are handed back after each slab, so a pass never holds either map whole."""
    for start in range(0, volume.shape[0], _SLAB):
        stored = volume[start : start + _SLAB], reference[start : start + _SLAB]
        yield np.asarray(stored[0], np.float64), np.asarray(stored[1], np.float64)
        for slab in stored:
            release_pages(slab)
