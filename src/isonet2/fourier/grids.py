"""Frequency grids in the centred (fftshift) and the rfft layouts.

Example:
    >>> radial_frequency_grid((4, 4, 4))[2, 2, 2]  # zero frequency sits at index N//2
    tensor(0.)
    >>> radial_frequency_grid((4, 4, 4), rfft=True).shape  # layout of rfftn(volume)
    torch.Size([4, 4, 3])

Layouts, for an axis of length N:

- centred: index i holds the integer frequency i - N//2, i.e. the order of
  ``fftshift(fftn(v))``. Zero sits at index N//2; an even axis runs from -N/2 to N/2 - 1, an odd
  one from -(N-1)/2 to (N-1)/2.
- rfft: the layout of ``torch.fft.rfftn`` of an *unshifted* volume. Every axis but the last is in
  FFT order (0, 1, ..., -1); the last axis keeps the N//2 + 1 non-negative frequencies. For an even
  last axis its final bin is the Nyquist frequency, listed as -N/2 exactly as in the centred layout
  (it is the same, aliased frequency), so that ``f(rfft=True) == centred_to_rfft(f(rfft=False))``
  holds for every filter built from these indices.

Integer frequency index j on an axis of length N is j / N cycles/pixel. Filters are built in the
centred layout (easy to reason about) or directly in the rfft layout (half the memory), and
applied with rfftn by ``isonet2.fourier.filters.apply_fourier_filter``.
"""

from collections.abc import Sequence

import torch

Device = torch.device | str | None


def centred_indices(n: int, *, device: Device = None) -> torch.Tensor:
    """Integer frequency indices of a centred axis of length ``n``: ``arange(n) - n//2``, int64."""
    return torch.arange(n, device=device, dtype=torch.int64) - n // 2


def centred_frequencies(
    n: int, *, dtype: torch.dtype = torch.float32, device: Device = None
) -> torch.Tensor:
    """Frequencies of a centred axis of length ``n`` in cycles/pixel, shape (n,).

    Equal to ``fftshift(fftfreq(n))``: zero at index n//2.
    """
    return centred_indices(n, device=device).to(dtype) / n


def frequency_indices(
    shape: Sequence[int], *, rfft: bool = False, device: Device = None
) -> list[torch.Tensor]:
    """Integer frequency index of every axis, each shaped to broadcast over ``shape``.

    Args:
        shape: the real-space shape, e.g. (z, y, x).
        rfft: False for the centred layout; True for the rfft layout (last axis N//2 + 1 long).
        device: where the tensors live.

    Returns:
        One int64 tensor per axis; axis i has length shape[i] (or shape[-1]//2 + 1 for the last
        axis with rfft) and singleton length elsewhere, e.g. (z, 1, 1), (1, y, 1), (1, 1, x).
    """
    ndim = len(shape)
    out = []
    for axis, n in enumerate(shape):
        idx = centred_indices(n, device=device)
        if rfft:
            idx = torch.fft.ifftshift(idx)
            if axis == ndim - 1:
                idx = idx[: n // 2 + 1]
        view = [1] * ndim
        view[axis] = idx.numel()
        out.append(idx.reshape(view))
    return out


def radial_frequency_grid(
    shape: Sequence[int],
    *,
    rfft: bool = False,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> torch.Tensor:
    """|k| in cycles/pixel at every voxel of a spectrum of a volume of real-space ``shape``.

    |k| = sqrt(sum_i (j_i / N_i)^2) with j_i the integer frequency index of axis i, so a
    non-cubic volume gets the physically correct radius (Nyquist = 0.5 on every axis).

    Args:
        shape: the real-space shape, e.g. (z, y, x).
        rfft: False for the centred layout (same shape); True for the rfft layout
            (last axis shape[-1]//2 + 1).
        dtype: floating dtype of the result (float64 for intermediate physics).
        device: where the result lives.
    """
    radius_sq = torch.zeros((), dtype=dtype, device=device)
    for idx, n in zip(frequency_indices(shape, rfft=rfft, device=device), shape, strict=True):
        radius_sq = radius_sq + (idx.to(dtype) / n) ** 2
    return torch.sqrt(radius_sq)


def friedel_weights(
    size_x: int, *, dtype: torch.dtype = torch.float32, device: Device = None
) -> torch.Tensor:
    """How many full-spectrum voxels each x plane of the rfft layout stands for: (size_x//2+1,).

    A half-spectrum voxel stands for itself and its Friedel mate (weight 2), except on the
    planes that hold both: x = 0 and, for an even size_x, Nyquist (weight 1). Sums of a
    Friedel-symmetric quantity (|F|², Re(A conj B), under masks symmetric in k -> -k) over the
    half spectrum, weighted so, equal the sums over the full one.
    """
    weight = torch.full((size_x // 2 + 1,), 2.0, dtype=dtype, device=device)
    weight[0] = 1.0
    if size_x % 2 == 0:
        weight[-1] = 1.0
    return weight


def centred_to_rfft(fourier_filter: torch.Tensor) -> torch.Tensor:
    """Convert a centred full-spectrum filter (..., z, y, x) to the rfft layout (..., z, y, x//2+1).

    ifftshift over the last three axes, then keep the non-negative half of the last axis. Exact
    for any filter; the result matches the unshifted ``rfftn`` of a volume of shape (z, y, x).
    """
    unshifted = torch.fft.ifftshift(fourier_filter, dim=(-3, -2, -1))
    return unshifted[..., : fourier_filter.shape[-1] // 2 + 1]
