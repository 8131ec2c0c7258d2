"""Imaging a specimen: tilt angles, projections through the CTF, and the even/odd dose split.

Example:
    angles = tilt_angles_deg(-60.0, 60.0, 3.0)                      # 41 angles
    width = detector_width(density.shape, angles, ctf_margin_pixels(10.0, 35000.0, 300.0, 2.7))
    clean = record_images(density, angles, width, 10.0, 35000.0, 300.0, 2.7, 0.1)
    even, odd = split_dose(clean, snr=0.1, generator=torch.Generator().manual_seed(0))

Contrast: an image is -(CTF ⊗ line integral of the density). CTF(0) = +amplitude contrast
and the first lobe is positive, so dense matter (protein) comes out DARK, as in real
cryo-ET. The CTF is applied in the 2D Fourier space of each image with the defocus of the
untilted specimen (no defocus gradient across tilted images), no envelope.

SNR: the ratio of the variance of the clean full-dose images (all pixels of all tilts
pooled) to the variance of the full-dose noise, which is white Gaussian per pixel and the
same on every tilt. The dose is split in two: each half gets half the clean signal plus
independent noise of half the full-dose variance, so even + odd has the requested SNR and
each half alone has SNR / 2.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from isonet2.fourier.ctf import ctf_1d, electron_wavelength_angstrom
from isonet2.simulate.projector import project

logger = logging.getLogger(__name__)


def tilt_angles_deg(tilt_min_deg: float, tilt_max_deg: float, tilt_step_deg: float) -> np.ndarray:
    """Evenly spaced tilts from tilt_min to tilt_max inclusive, at most tilt_step apart.

    When the range is not a whole number of steps the step shrinks slightly so both ends are
    imaged (e.g. -50..65 in 3° steps gives 40 tilts 2.95° apart).
    """
    count = math.ceil((tilt_max_deg - tilt_min_deg) / tilt_step_deg - 1e-9) + 1
    return np.linspace(tilt_min_deg, tilt_max_deg, max(count, 2))


def ctf_margin_pixels(
    pixel_size_angstrom: float, defocus_angstrom: float, voltage_kv: float, cs_mm: float
) -> int:
    """How far, in pixels, the CTF spreads a point: the largest |d chi / ds| / 2 pi.

    The detector gets this margin on each side so that applying the CTF by FFT, which wraps
    around the detector's ends, does not fold one edge of an image onto the other.
    """
    wavelength = electron_wavelength_angstrom(voltage_kv)
    s_max = math.sqrt(2.0) / (2.0 * pixel_size_angstrom)
    spread = wavelength * defocus_angstrom * s_max + cs_mm * 1e7 * wavelength**3 * s_max**3
    return math.ceil(spread / pixel_size_angstrom) + 1


def apply_ctf(
    images: torch.Tensor,
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
) -> torch.Tensor:
    """Multiply each image's 2D spectrum by the CTF at |s| = sqrt(s_y² + s_u²).

    Args:
        images: (n, y, u) float32 tensor; periodic along y (the phantom is) and padded along
            u by `ctf_margin_pixels`.

    Returns:
        (n, y, u) float32 tensor.
    """
    _, size_y, width = images.shape
    s_y = torch.fft.fftfreq(size_y, dtype=torch.float64)[:, None]
    s_u = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    s_per_angstrom = torch.sqrt(s_y**2 + s_u**2) / pixel_size_angstrom
    ctf = ctf_1d(s_per_angstrom, defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast)
    spectrum = torch.fft.rfft2(images) * ctf.to(torch.float32)
    return torch.fft.irfft2(spectrum, s=(size_y, width))


def record_images(
    density: torch.Tensor,
    tilt_angles: np.ndarray,
    width: int,
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
) -> torch.Tensor:
    """Noise-free full-dose images: -(CTF ⊗ line integrals), integrals in density x voxels.

    Args:
        density: (z, y, x) float32 tensor.
        tilt_angles: (n,) degrees.
        width: detector pixels along u (see `projector.detector_width`).

    Returns:
        (n, y, width) float32 tensor; protein is dark (negative).
    """
    return -apply_ctf(
        project(density, tilt_angles, width),
        pixel_size_angstrom,
        defocus_angstrom,
        voltage_kv,
        cs_mm,
        amplitude_contrast,
    )


def split_dose(
    clean: torch.Tensor, snr: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Even and odd half-dose images: clean / 2 plus independent Gaussian noise each.

    Args:
        clean: (n, y, u) noise-free full-dose images.
        snr: var(clean) / var(full-dose noise), see the module docstring.
        generator: the source of the noise (even first, then odd).

    Returns:
        (even, odd), each (n, y, u) float32, with even + odd = clean + full-dose noise.
    """
    noise_std = math.sqrt(float(clean.var()) / snr)
    half_std = noise_std / math.sqrt(2.0)
    logger.debug("full-dose noise std %.4g for SNR %.4g", noise_std, snr)
    even = clean / 2 + half_std * torch.randn(clean.shape, generator=generator)
    odd = clean / 2 + half_std * torch.randn(clean.shape, generator=generator)
    return even, odd
