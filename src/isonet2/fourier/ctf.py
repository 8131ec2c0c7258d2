"""Contrast transfer function: 1D curves, 3D CTF / phase-flip / Wiener filters (ALGORITHM §2).

Example:
    ctf = ctf_3d((96, 96, 96), pixel_size_angstrom=5.4, defocus_angstrom=30000.0,
                 voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.1,
                 clip_first_peak_mode=1, bfactor_angstrom2=250.0, absolute=True, rfft=True)
    pred_ctf = apply_fourier_filter(pred, ctf)        # isonet2.fourier.filters

Physics (units in the names): spatial frequency s in 1/Å, Nyquist = 1 / (2 * pixel), defocus in Å
with underfocus positive, Cs in mm (converted to Å here), voltage in kV, B-factor in Å².

    chi(s) = pi * lambda * defocus * s^2 - (pi/2) * Cs * lambda^3 * s^4
    CTF(s) = sqrt(1 - A^2) * sin(chi) + A * cos(chi)            (so CTF(0) = A)

3D filters are (z, y, x) float32 in the centred layout, or (z, y, x//2+1) with ``rfft=True``
(see ``isonet2.fourier.grids``); each voxel takes the value at its radial frequency |k|, voxels
past Nyquist (the cube's corners) take the Nyquist value. Physics is evaluated in float64 and the
result cast to float32, so CPU and CUDA agree to float32 rounding.

Defocus 0 means "no CTF" (phase-plate data, or CTF handling off): every 3D filter here is then
all ones, B-factor envelope included.
"""

import logging
import math
from collections.abc import Sequence

import torch

from isonet2.errors import InputError
from isonet2.fourier.grids import Device, radial_frequency_grid

logger = logging.getLogger(__name__)

CLIP_MODES = (0, 1, 2, 3)
_PEAK_SEARCH_SAMPLES = 2**16 + 1


def electron_wavelength_angstrom(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å at an acceleration voltage in kV (0.01969 at 300)."""
    if not voltage_kv > 0:
        raise InputError(f"voltage must be positive (kV), got {voltage_kv}")
    volts = voltage_kv * 1e3
    return 12.2643247 / math.sqrt(volts * (1.0 + 0.978466e-6 * volts))


def _check_optics(
    defocus_angstrom: float, voltage_kv: float, cs_mm: float, amplitude_contrast: float
) -> None:
    if not (math.isfinite(defocus_angstrom) and defocus_angstrom >= 0):
        raise InputError(
            f"defocus must be >= 0 Å (underfocus is positive, 0 = no CTF), got {defocus_angstrom}"
        )
    if not voltage_kv > 0:
        raise InputError(f"voltage must be positive (kV), got {voltage_kv}")
    if not math.isfinite(cs_mm):
        raise InputError(f"spherical aberration must be a finite number (mm), got {cs_mm}")
    if not 0 <= amplitude_contrast <= 1:
        raise InputError(f"amplitude contrast must lie in [0, 1], got {amplitude_contrast}")


def _check_pixel(pixel_size_angstrom: float) -> None:
    if not (math.isfinite(pixel_size_angstrom) and pixel_size_angstrom > 0):
        raise InputError(f"pixel size must be positive (Å), got {pixel_size_angstrom}")


def ctf_1d(
    s_per_angstrom: torch.Tensor,
    defocus_angstrom: float,
    voltage_kv: float = 300.0,
    cs_mm: float = 2.7,
    amplitude_contrast: float = 0.1,
) -> torch.Tensor:
    """The CTF at spatial frequencies ``s_per_angstrom`` (any shape; same dtype and device back).

    This is the physical curve for any defocus, 0 included; the "defocus 0 = no CTF" rule belongs
    to the 3D filters. Pass float64 frequencies where float32 rounding matters.
    """
    _check_optics(defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast)
    wavelength = electron_wavelength_angstrom(voltage_kv)
    cs_angstrom = cs_mm * 1e7
    s_sq = s_per_angstrom * s_per_angstrom
    chi = (math.pi * wavelength * defocus_angstrom) * s_sq - (
        0.5 * math.pi * cs_angstrom * wavelength**3
    ) * (s_sq * s_sq)
    amp = amplitude_contrast
    return math.sqrt(1.0 - amp * amp) * torch.sin(chi) + amp * torch.cos(chi)


def _first_peak_index(curve: torch.Tensor) -> int | None:
    """Index of the first local maximum of a 1D curve: not below its left neighbour and above its
    right one (the end samples never count); None when the curve has none."""
    rising = curve[1:-1] >= curve[:-2]
    falling = curve[1:-1] > curve[2:]
    hits = torch.nonzero(rising & falling)
    return int(hits[0, 0]) + 1 if hits.numel() else None


def _check_clip_mode(mode: int) -> None:
    if mode not in CLIP_MODES:
        raise InputError(f"clip_first_peak_mode must be 0, 1, 2 or 3, got {mode}")


def _clip_below_peak(
    values: torch.Tensor, s: torch.Tensor, s_peak: float, ctf_peak: float, mode: int
) -> torch.Tensor:
    """Apply clip mode 1-3 to CTF ``values`` at frequencies ``s`` below the first peak s_peak."""
    below = s < s_peak
    quarter_turn = (0.5 * math.pi / s_peak) * s
    if mode == 1:
        clipped = torch.full_like(values, ctf_peak)
    elif mode == 2:
        clipped = torch.maximum(values, ctf_peak * (1.0 - torch.sin(quarter_turn)))
    else:
        clipped = torch.maximum(values, ctf_peak * torch.cos(quarter_turn))
    return torch.where(below, clipped, values)


def first_peak_clip(
    ctf_curve: torch.Tensor, s_per_angstrom: torch.Tensor, mode: int
) -> torch.Tensor:
    """Reshape a sampled 1D CTF below its first local maximum m (ALGORITHM §2).

    Args:
        ctf_curve: CTF values, shape (n,), at increasing frequencies ``s_per_angstrom`` (n,).
        s_per_angstrom: the sample frequencies in 1/Å, starting at or near 0.
        mode: below s_m, 0 = unchanged; 1 = the constant CTF(m);
            2 = max(CTF, CTF(m) * (1 - sin(pi/2 * s/s_m)));
            3 = max(CTF, CTF(m) * cos(pi/2 * s/s_m)).

    Returns:
        The clipped curve (n,), same dtype; unchanged when the curve has no interior local
        maximum (the first peak lies past the last sample).
    """
    _check_clip_mode(mode)
    peak = _first_peak_index(ctf_curve)
    if mode == 0 or peak is None:
        return ctf_curve.clone()
    return _clip_below_peak(
        ctf_curve, s_per_angstrom, float(s_per_angstrom[peak]), float(ctf_curve[peak]), mode
    )


def _filter_shape(shape: Sequence[int], rfft: bool) -> tuple[int, ...]:
    return (*shape[:-1], shape[-1] // 2 + 1) if rfft else tuple(shape)


def _clamped_radial_frequency(
    shape: Sequence[int], pixel_size_angstrom: float, rfft: bool, device: Device
) -> torch.Tensor:
    """Per-voxel spatial frequency in 1/Å (float64), clamped to Nyquist."""
    radius = radial_frequency_grid(shape, rfft=rfft, dtype=torch.float64, device=device)
    return radius.clamp(max=0.5) / pixel_size_angstrom


def ctf_3d(
    shape: Sequence[int],
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
    *,
    clip_first_peak_mode: int = 0,
    bfactor_angstrom2: float = 0.0,
    absolute: bool = False,
    rfft: bool = False,
    device: Device = None,
) -> torch.Tensor:
    """3D CTF filter for a volume of real-space ``shape`` (z, y, x), float32.

    The first peak for ``clip_first_peak_mode`` is found on the radial profile sampled finely
    from 0 to Nyquist (no peak below Nyquist: no clipping); the clip formula is then evaluated at
    each voxel's own frequency. The envelope exp(-B * s^2 / 2) multiplies once, after clipping.
    ``absolute=True`` returns |CTF| (the filter for phase-flipped data). Defocus 0: all ones.

    Returns:
        (z, y, x) centred, or (z, y, x//2+1) with ``rfft=True``.
    """
    _check_optics(defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast)
    _check_pixel(pixel_size_angstrom)
    _check_clip_mode(clip_first_peak_mode)
    if defocus_angstrom == 0:
        return torch.ones(_filter_shape(shape, rfft), dtype=torch.float32, device=device)
    optics = (defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast)
    s = _clamped_radial_frequency(shape, pixel_size_angstrom, rfft, device)
    values = ctf_1d(s, *optics)
    if clip_first_peak_mode:
        profile_s = torch.linspace(
            0.0, 0.5 / pixel_size_angstrom, _PEAK_SEARCH_SAMPLES, dtype=torch.float64
        )
        profile = ctf_1d(profile_s, *optics)
        peak = _first_peak_index(profile)
        if peak is None:
            logger.debug("CTF has no peak below Nyquist; first-peak clipping changes nothing")
        else:
            values = _clip_below_peak(
                values, s, float(profile_s[peak]), float(profile[peak]), clip_first_peak_mode
            )
    if bfactor_angstrom2:
        values = values * torch.exp((-0.5 * bfactor_angstrom2) * s * s)
    if absolute:
        values = values.abs()
    return values.to(torch.float32)


def phase_flip_filter(
    shape: Sequence[int],
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
    *,
    rfft: bool = False,
    device: Device = None,
) -> torch.Tensor:
    """sign(CTF) as a float32 filter of +1/-1 (a zero CTF counts as +1); defocus 0: all ones.

    Returns:
        (z, y, x) centred, or (z, y, x//2+1) with ``rfft=True``.
    """
    ctf = ctf_3d(
        shape,
        pixel_size_angstrom,
        defocus_angstrom,
        voltage_kv,
        cs_mm,
        amplitude_contrast,
        rfft=rfft,
        device=device,
    )
    return torch.where(ctf >= 0, 1.0, -1.0).to(torch.float32)


def wiener_filter_3d(
    shape: Sequence[int],
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
    snrfalloff: float,
    deconvstrength: float,
    highpassnyquist: float,
    *,
    phase_flipped: bool = False,
    rfft: bool = False,
    device: Device = None,
) -> torch.Tensor:
    """Wiener deconvolution filter W = CTF / (CTF^2 + 1/SNR), float32 (ALGORITHM §2).

    On f = s / Nyquist in [0, 1]: highpass(f) = 1 - cos(pi * min(1, f / highpassnyquist)) and
    SNR(f) = exp(-f * snrfalloff * 100 / pixel) * 10^deconvstrength * highpass(f) + 1e-6.
    ``phase_flipped=True`` uses |CTF| (data already multiplied by sign(CTF)). No B envelope, no
    first-peak clipping. Defocus 0: all ones.

    Returns:
        (z, y, x) centred, or (z, y, x//2+1) with ``rfft=True``.
    """
    _check_optics(defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast)
    _check_pixel(pixel_size_angstrom)
    if not highpassnyquist > 0:
        raise InputError(f"highpassnyquist must be positive, got {highpassnyquist}")
    if defocus_angstrom == 0:
        return torch.ones(_filter_shape(shape, rfft), dtype=torch.float32, device=device)
    s = _clamped_radial_frequency(shape, pixel_size_angstrom, rfft, device)
    response = wiener_1d(
        s,
        pixel_size_angstrom,
        defocus_angstrom,
        voltage_kv,
        cs_mm,
        amplitude_contrast,
        snrfalloff,
        deconvstrength,
        highpassnyquist,
        phase_flipped=phase_flipped,
    )
    return response.to(torch.float32)


def wiener_1d(
    s_per_angstrom: torch.Tensor,
    pixel_size_angstrom: float,
    defocus_angstrom: float,
    voltage_kv: float,
    cs_mm: float,
    amplitude_contrast: float,
    snrfalloff: float,
    deconvstrength: float,
    highpassnyquist: float,
    *,
    phase_flipped: bool = False,
) -> torch.Tensor:
    """The Wiener response W(s) of ALGORITHM §2 at frequencies s (1/Å, at most Nyquist).

    Same dtype as `s_per_angstrom`; `wiener_filter_3d` evaluates it on a 3D grid, and
    chunked deconvolution evaluates it slab by slab.
    """
    f = s_per_angstrom * (2.0 * pixel_size_angstrom)
    highpass = 1.0 - torch.cos(math.pi * torch.clamp(f / highpassnyquist, max=1.0))
    falloff = torch.exp(f * (-snrfalloff * 100.0 / pixel_size_angstrom))
    snr = falloff * 10.0**deconvstrength * highpass + 1e-6
    ctf = ctf_1d(s_per_angstrom, defocus_angstrom, voltage_kv, cs_mm, amplitude_contrast)
    if phase_flipped:
        ctf = ctf.abs()
    return ctf / (ctf * ctf + 1.0 / snr)
