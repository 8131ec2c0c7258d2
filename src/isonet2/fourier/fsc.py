"""Fourier shell correlation between two volumes, and the resolution where it drops.

Example:
    freq, fsc = fourier_shell_correlation(half_map_1, half_map_2)
    resolution = resolution_at_threshold(freq, fsc, 0.143, pixel_size_angstrom=5.4)   # Å
"""

import math

import torch


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
        mask: optional centred Fourier mask (z, y, x); only voxels where it exceeds 0.5 count.
        n_shells: number of shells from zero frequency to Nyquist (at least 2).

    Returns:
        (shell_freq_cycles_per_pixel, fsc), both float32 of shape (n_shells,). A shell with no
        voxel, or no power in one volume, gets FSC 0.
    """
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (z, y, x) volumes of one shape, got {a.shape} and {b.shape}")
    shortest = min(a.shape)
    if n_shells is None:
        n_shells = shortest // 2 + 1
    if n_shells < 2 or shortest < 2:
        raise ValueError(f"need n_shells >= 2 and sides >= 2, got {n_shells} and {tuple(a.shape)}")
    width = (shortest // 2) / (n_shells - 1)

    spec_a = torch.fft.fftn(a.to(torch.float32))
    spec_b = torch.fft.fftn(b.to(torch.float32))
    radius = torch.zeros((), dtype=torch.float64, device=a.device)
    for axis, n in enumerate(a.shape):
        freq = torch.fft.fftfreq(n, dtype=torch.float64, device=a.device)
        view = [1, 1, 1]
        view[axis] = n
        radius = radius + freq.reshape(view) ** 2
    shell = torch.round(torch.sqrt(radius) * shortest / width).to(torch.int64)
    keep = shell < n_shells
    if mask is not None:
        keep = keep & (torch.fft.ifftshift(mask, dim=(-3, -2, -1)) > 0.5)
    index = shell[keep]

    def shell_sum(values: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(n_shells, dtype=torch.float64, device=a.device)
        return total.index_add_(0, index, values[keep].to(torch.float64))

    cross = shell_sum((spec_a * spec_b.conj()).real)
    power = shell_sum(spec_a.abs() ** 2) * shell_sum(spec_b.abs() ** 2)
    safe = power > 0
    fsc = torch.where(safe, cross / torch.sqrt(torch.where(safe, power, 1.0)), 0.0)
    freq = torch.arange(n_shells, dtype=torch.float64, device=a.device) * (width / shortest)
    return freq.to(torch.float32), fsc.to(torch.float32)


def resolution_at_threshold(
    freq_cycles_per_pixel: torch.Tensor,
    fsc: torch.Tensor,
    threshold: float,
    pixel_size_angstrom: float,
) -> float:
    """Resolution in Å where the FSC first falls below ``threshold`` (e.g. 0.143 or 0.5).

    Linear interpolation between the last shell at or above the threshold and the first below it;
    Nyquist (2 * pixel) when the curve never falls below; infinity when it starts below.
    """
    below = torch.nonzero(fsc < threshold)
    if below.numel() == 0:
        return 2.0 * pixel_size_angstrom
    first = int(below[0, 0])
    if first == 0:
        return math.inf
    f0, f1 = float(freq_cycles_per_pixel[first - 1]), float(freq_cycles_per_pixel[first])
    c0, c1 = float(fsc[first - 1]), float(fsc[first])
    crossing = f0 + (c0 - threshold) / (c0 - c1) * (f1 - f0)
    return pixel_size_angstrom / crossing if crossing > 0 else math.inf
