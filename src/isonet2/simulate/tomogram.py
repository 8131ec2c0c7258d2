"""Simulate a cryo-ET data set: ground truth plus even/odd half tomograms of a phantom lamella.

Example:
    result = simulate_tomogram((128, 256, 256), preset="lamella-asym", seed=1)
    full = result.even + result.odd
    result.settings.tilt_min_deg, result.settings.tilt_max_deg      # (-50.0, 65.0)

Steps: a phantom (`phantom.make_phantom`) -> a tilt series of CTF-modulated line integrals
about Y (`acquisition.record_images`) -> the dose split into even and odd halves with
independent noise at the requested SNR (`acquisition.split_dose`) -> each half reconstructed
by weighted back-projection (`wbp.weighted_back_projection`).

The ground truth is the phantom's density negated and mean-subtracted, so it has the
tomograms' contrast (protein dark, i.e. more negative than the ice) but no CTF, noise or
missing wedge. Its scale is the density's; the tomograms' is close to it but not equal.
The measured region of the tomograms' spectrum is exactly the wedge that
`isonet2.fourier.wedge.missing_wedge_mask(shape, tilt_min_deg, tilt_max_deg)` keeps.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from isonet2.errors import InputError
from isonet2.simulate.acquisition import (
    ctf_margin_pixels,
    record_images,
    split_dose,
    tilt_angles_deg,
)
from isonet2.simulate.phantom import make_phantom
from isonet2.simulate.presets import get_preset
from isonet2.simulate.projector import detector_width
from isonet2.simulate.wbp import Apodization, check_apodization, weighted_back_projection

logger = logging.getLogger(__name__)

MIN_AXIS = 64
MAX_TILTS = 1000


@dataclass(frozen=True)
class AcquisitionSettings:
    """The imaging parameters a simulation used (preset defaults filled in)."""

    pixel_size_angstrom: float
    tilt_min_deg: float
    tilt_max_deg: float
    tilt_step_deg: float
    defocus_angstrom: float
    snr: float
    voltage_kv: float
    cs_mm: float
    amplitude_contrast: float


@dataclass(frozen=True)
class SimulatedTomogram:
    """Ground truth and the two half tomograms, each (z, y, x) float32; full = even + odd."""

    ground_truth: np.ndarray
    even: np.ndarray
    odd: np.ndarray
    tilt_angles_deg: np.ndarray
    """(n,) the tilts imaged, degrees."""
    settings: AcquisitionSettings


def simulate_tomogram(
    shape_zyx: Sequence[int],
    pixel_size_angstrom: float | None = None,
    tilt_min_deg: float | None = None,
    tilt_max_deg: float | None = None,
    tilt_step_deg: float | None = None,
    defocus_angstrom: float | None = None,
    snr: float | None = None,
    seed: int = 0,
    preset: str = "cell",
    voltage_kv: float = 300.0,
    cs_mm: float = 2.7,
    amplitude_contrast: float = 0.1,
    apodization: Apodization = "hamming",
) -> SimulatedTomogram:
    """Simulate one tomogram's ground truth and even/odd half reconstructions.

    Args:
        shape_zyx: (z, y, x) volume shape, every axis >= 64; Z is the beam axis.
        pixel_size_angstrom: voxel size, Å. None (like every acquisition argument below):
            the preset's value.
        tilt_min_deg, tilt_max_deg: tilt range about Y, -90 <= min < max <= 90.
        tilt_step_deg: largest step between tilts (see `acquisition.tilt_angles_deg`).
        defocus_angstrom: underfocus, Å (positive; 0 = in focus: amplitude contrast only).
        snr: full-dose image SNR, var(clean images) / var(noise) (`acquisition.split_dose`).
        seed: the whole result is a function of the arguments; same seed, same bytes.
        preset: a name from `presets.PRESETS`: the scene and the acquisition defaults.
        voltage_kv, cs_mm, amplitude_contrast: microscope optics.
        apodization: window on the WBP ramp filter: "none", "cosine" or "hamming".

    Returns:
        The ground truth (negated, mean-subtracted density), even and odd tomograms, the tilt
        angles and the settings used.

    Raises:
        InputError: a bad shape, tilt range, step, SNR, pixel size, seed or preset.
    """
    chosen = get_preset(preset)
    settings = AcquisitionSettings(
        pixel_size_angstrom=_pick(pixel_size_angstrom, chosen.pixel_size_angstrom),
        tilt_min_deg=_pick(tilt_min_deg, chosen.tilt_min_deg),
        tilt_max_deg=_pick(tilt_max_deg, chosen.tilt_max_deg),
        tilt_step_deg=_pick(tilt_step_deg, chosen.tilt_step_deg),
        defocus_angstrom=_pick(defocus_angstrom, chosen.defocus_angstrom),
        snr=_pick(snr, chosen.snr),
        voltage_kv=float(voltage_kv),
        cs_mm=float(cs_mm),
        amplitude_contrast=float(amplitude_contrast),
    )
    shape = _check_shape(shape_zyx)
    _check_settings(settings)
    check_apodization(apodization)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"simulate: seed must be a non-negative integer, got {seed!r}")

    started = time.perf_counter()
    phantom_seed, noise_seed = np.random.SeedSequence(int(seed)).spawn(2)
    density = make_phantom(
        shape, settings.pixel_size_angstrom, chosen.phantom, np.random.default_rng(phantom_seed)
    )
    logger.info("phantom %s made in %.1f s", shape, time.perf_counter() - started)

    angles = tilt_angles_deg(settings.tilt_min_deg, settings.tilt_max_deg, settings.tilt_step_deg)
    margin = ctf_margin_pixels(
        settings.pixel_size_angstrom, settings.defocus_angstrom, settings.voltage_kv, settings.cs_mm
    )
    width = detector_width(shape, angles, min(margin, shape[2] // 2))
    clean = record_images(
        torch.from_numpy(density),
        angles,
        width,
        settings.pixel_size_angstrom,
        settings.defocus_angstrom,
        settings.voltage_kv,
        settings.cs_mm,
        settings.amplitude_contrast,
    )
    generator = torch.Generator().manual_seed(int(noise_seed.generate_state(1)[0]))
    halves = split_dose(clean, settings.snr, generator)
    even, odd = (
        weighted_back_projection(images, angles, shape, apodization).numpy() for images in halves
    )
    logger.info(
        "%d tilts %.1f..%.1f° imaged and reconstructed, %.1f s in all",
        len(angles),
        angles[0],
        angles[-1],
        time.perf_counter() - started,
    )
    ground_truth = (np.float32(density.mean(dtype=np.float64)) - density).astype(np.float32)
    return SimulatedTomogram(ground_truth, even, odd, angles, settings)


def _pick(value: float | None, default: float) -> float:
    return float(default if value is None else value)


def _check_shape(shape_zyx: Sequence[int]) -> tuple[int, int, int]:
    """The shape as three ints, each at least MIN_AXIS."""
    values = tuple(shape_zyx)
    if len(values) != 3 or not all(isinstance(v, int | np.integer) for v in values):
        raise InputError(f"simulate: shape must be three integers (z, y, x), got {values}")
    if min(values) < MIN_AXIS:
        raise InputError(f"simulate: every axis of the shape must be >= {MIN_AXIS}, got {values}")
    return int(values[0]), int(values[1]), int(values[2])


def _check_settings(settings: AcquisitionSettings) -> None:
    """InputError, one line, for the first setting out of range."""
    low, high = settings.tilt_min_deg, settings.tilt_max_deg
    if not -90.0 <= low < high <= 90.0:
        raise InputError(
            f"simulate: tilt range must satisfy -90 <= tilt_min < tilt_max <= 90, got {low}..{high}"
        )
    checks = (
        (
            settings.tilt_step_deg > 0 and (high - low) / settings.tilt_step_deg <= MAX_TILTS,
            f"tilt step must be > 0° and give at most {MAX_TILTS} tilts, "
            f"got {settings.tilt_step_deg}",
        ),
        (settings.snr > 0 and math.isfinite(settings.snr), f"snr must be > 0, got {settings.snr}"),
        (
            settings.pixel_size_angstrom > 0 and math.isfinite(settings.pixel_size_angstrom),
            f"pixel size must be > 0 Å, got {settings.pixel_size_angstrom}",
        ),
        (
            settings.defocus_angstrom >= 0 and math.isfinite(settings.defocus_angstrom),
            f"defocus must be >= 0 Å (underfocus positive), got {settings.defocus_angstrom}",
        ),
        (settings.voltage_kv > 0, f"voltage must be > 0 kV, got {settings.voltage_kv}"),
        (
            0.0 <= settings.amplitude_contrast < 1.0,
            f"amplitude contrast must be in [0, 1), got {settings.amplitude_contrast}",
        ),
    )
    for passed, message in checks:
        if not passed:
            raise InputError(f"simulate: {message}")
