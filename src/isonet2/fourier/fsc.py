"""Fourier shell correlation between two volumes, and the resolution where it drops.

Example:
    freq, fsc = fourier_shell_correlation(half_map_1, half_map_2)
    resolution = resolution_at_threshold(freq, fsc, 0.143, pixel_size_angstrom=5.4)   # Å
    curves = fourier_shell_correlations(map_1, map_2, {"all": None, "in wedge": wedge_mask})
"""

import math
from collections.abc import Mapping, Sequence

import torch

from isonet2.fourier.grids import friedel_weights


def fourier_shell_correlation(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    n_shells: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """FSC between two real volumes of the same (z, y, x) shape, per spherical shell.

    Radii are in index units normalised to the shortest side m = min(z, y, x): r = |k| * m with
    |k| in cycles/pixel (so a cube's shells are the plain voxel distance from the centre).
    Shell i is centred at r_i = i * w and holds the voxels with round(r / w) = i, w = (m//2) /
    (n_shells - 1); the default n_shells = m//2 + 1 gives one-voxel shells from 0 to Nyquist.
    Voxels past the last shell (the corners) are left out.

    Args:
        a, b: real volumes (z, y, x).
        mask: optional centred Fourier mask (z, y, x), symmetric under k -> -k (as wedges and
            cones are); only voxels where it exceeds 0.5 count.
        n_shells: number of shells from zero frequency to Nyquist (at least 2).

    Returns:
        (shell_freq_cycles_per_pixel, fsc), both float32 of shape (n_shells,). A shell with no
        voxel, or no power in one volume, gets FSC 0.
    """
    curves = fourier_shell_correlations(a, b, {"curve": mask}, n_shells=n_shells)
    return curves["curve"]


def fourier_shell_correlations(
    a: torch.Tensor,
    b: torch.Tensor,
    masks: Mapping[str, torch.Tensor | None],
    *,
    n_shells: int | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """`fourier_shell_correlation` under several masks, from one pair of spectra.

    The spectra are real-input (half) transforms: a voxel of the half spectrum stands for
    itself and its Friedel mate, except on the planes that hold both (x = 0 and, for even x,
    Nyquist), so the sums equal the full spectrum's for masks symmetric under k -> -k, at
    about a third of the memory of one full-spectrum curve for all of them.

    Returns:
        {name: (shell_freq_cycles_per_pixel, fsc)} for each name of `masks`.
    """
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (z, y, x) volumes of one shape, got {a.shape} and {b.shape}")
    shortest = min(a.shape)
    if n_shells is None:
        n_shells = shortest // 2 + 1
    if n_shells < 2 or shortest < 2:
        raise ValueError(f"need n_shells >= 2 and sides >= 2, got {n_shells} and {tuple(a.shape)}")
    width = (shortest // 2) / (n_shells - 1)
    half_x = a.shape[2] // 2 + 1

    spec_a = torch.fft.rfftn(a.to(torch.float32))
    spec_b = torch.fft.rfftn(b.to(torch.float32))
    # per half-spectrum voxel: Friedel weight times cross term and powers, in float64
    weight = friedel_weights(a.shape[2], dtype=torch.float64, device=a.device)
    cross = (spec_a * spec_b.conj()).real.to(torch.float64) * weight
    power_a = (spec_a.real**2 + spec_a.imag**2).to(torch.float64) * weight
    del spec_a
    power_b = (spec_b.real**2 + spec_b.imag**2).to(torch.float64) * weight
    del spec_b

    # from fftfreq, not radial_frequency_grid: the two differ by an ulp, which moves voxels at
    # exact half-shell radii (many on non-cubic grids) and would shift every reported FSC
    radius = torch.zeros((), dtype=torch.float64, device=a.device)
    for axis, n in enumerate(a.shape):
        freq = (
            torch.fft.rfftfreq(n, dtype=torch.float64, device=a.device)
            if axis == 2
            else torch.fft.fftfreq(n, dtype=torch.float64, device=a.device)
        )
        view = [1, 1, 1]
        view[axis] = freq.numel()
        radius = radius + freq.reshape(view) ** 2
    shell = torch.round(torch.sqrt(radius) * shortest / width).to(torch.int64)
    del radius
    inside = shell < n_shells
    freq_out = torch.arange(n_shells, dtype=torch.float64, device=a.device) * (width / shortest)

    curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, mask in masks.items():
        keep = inside
        if mask is not None:
            if tuple(mask.shape) != tuple(a.shape):
                raise ValueError(f"mask {name!r} has shape {tuple(mask.shape)}, not {a.shape}")
            half_mask = torch.fft.ifftshift(mask, dim=(-3, -2, -1))[..., :half_x]
            keep = inside & (half_mask > 0.5)
        index = shell[keep]
        sums_cross, sums_a, sums_b = (
            torch.zeros(n_shells, dtype=torch.float64, device=a.device).index_add_(
                0, index, values[keep]
            )
            for values in (cross, power_a, power_b)
        )
        power = sums_a * sums_b
        safe = power > 0
        fsc = torch.where(safe, sums_cross / torch.sqrt(torch.where(safe, power, 1.0)), 0.0)
        curves[name] = (freq_out.to(torch.float32), fsc.to(torch.float32))
    return curves


LOWEST_READ_SHELL = 3  # shells below it are too few voxels to end a curve (see below)


def resolution_at_threshold(
    freq_cycles_per_pixel: torch.Tensor,
    fsc: torch.Tensor,
    threshold: float,
    pixel_size_angstrom: float,
) -> float:
    """Resolution in Å where the FSC, once at or above ``threshold`` (e.g. 0.143 or 0.5), first
    falls below it, read from shell ``LOWEST_READ_SHELL`` on.

    Shells 0-2 (zero frequency and the next two: a few dozen voxels each, and inside a missing
    wedge mostly the slab's Z profile) are not read, and shells below the threshold before the
    curve first reaches it are passed over: one low shell below it made evaluate say "never" or
    hundreds of Å for curves above it to 60 Å. Linear interpolation between the last shell at
    or above the threshold and the first below it; Nyquist (2 * pixel) when the curve does not
    fall below again; infinity when it never reaches the threshold. Shells are taken as evenly
    spaced, as `fourier_shell_correlation` gives them.
    """
    if freq_cycles_per_pixel.numel() > LOWEST_READ_SHELL:
        spacing = float(freq_cycles_per_pixel[-1] - freq_cycles_per_pixel[-2])
        read = freq_cycles_per_pixel >= (LOWEST_READ_SHELL - 0.5) * spacing
        freq_cycles_per_pixel, fsc = freq_cycles_per_pixel[read], fsc[read]
    reached = torch.nonzero(fsc >= threshold)
    if reached.numel() == 0:
        return math.inf
    start = int(reached[0, 0])
    below = torch.nonzero(fsc[start:] < threshold)
    if below.numel() == 0:
        return 2.0 * pixel_size_angstrom
    first = start + int(below[0, 0])
    f0, f1 = float(freq_cycles_per_pixel[first - 1]), float(freq_cycles_per_pixel[first])
    c0, c1 = float(fsc[first - 1]), float(fsc[first])
    crossing = f0 + (c0 - threshold) / (c0 - c1) * (f1 - f0)
    return pixel_size_angstrom / crossing if crossing > 0 else math.inf


def central_bounds(shape: Sequence[int], max_side: int) -> list[tuple[int, int]]:
    """(start, stop) per axis of the central block of at most `max_side` voxels: the block an
    FSC of two maps reads (evaluate's central crop, predict's independent half maps)."""
    starts = [max(0, (n - max_side) // 2) for n in shape]
    return [(start, min(n, start + max_side)) for start, n in zip(starts, shape, strict=True)]
