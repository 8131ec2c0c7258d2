"""Apply a real Fourier filter to real volumes, one or a batch, through rfftn.

Example:
    mask = missing_wedge_mask((96, 96, 96), -60.0, 60.0, rfft=True)    # (96, 96, 49)
    filtered = apply_fourier_filter(batch, mask)                        # batch (b, 1, 96, 96, 96)
"""

import torch

from isonet2.fourier.grids import centred_to_rfft


def apply_fourier_filter(volume: torch.Tensor, fourier_filter: torch.Tensor) -> torch.Tensor:
    """Multiply the spectrum of ``volume`` by a real filter and return to real space, float32.

    Args:
        volume: real tensor (..., z, y, x), e.g. (z, y, x) or a batch (b, 1, z, y, x).
        fourier_filter: real filter whose leading dimensions broadcast against the volume's:
            either the centred layout (..., z, y, x) or the rfft layout (..., z, y, x//2+1),
            told apart by the length of the last axis. One filter for the whole batch, e.g.
            (z, y, x//2+1), or one per sample, e.g. (b, 1, z, y, x//2+1).

    Returns:
        float32 tensor with the broadcast shape of volume and filter (normally the volume's).

    The product with the rfft half-spectrum equals the full complex filtering
    ``ifftn(fftn(v) * ifftshift(F)).real`` whenever F is Friedel-symmetric (the CTF, Wiener and
    wedge filters of this package are); for any other F it filters with F's Hermitian part.
    """
    if volume.ndim < 3:
        raise ValueError(f"volume needs at least 3 dimensions (z, y, x), got {tuple(volume.shape)}")
    if fourier_filter.is_complex():
        raise ValueError("apply_fourier_filter takes a real filter")
    z, y, x = volume.shape[-3:]
    if x <= 2:
        raise ValueError(f"x = {x}: the centred and rfft filter layouts cannot be told apart")
    if tuple(fourier_filter.shape[-3:-1]) != (z, y) or fourier_filter.shape[-1] not in (
        x,
        x // 2 + 1,
    ):
        raise ValueError(
            f"filter shape {tuple(fourier_filter.shape)} fits neither the centred ({z}, {y}, {x}) "
            f"nor the rfft ({z}, {y}, {x // 2 + 1}) layout of volume {tuple(volume.shape)}"
        )
    half = fourier_filter.to(torch.float32)
    if half.shape[-1] == x:
        half = centred_to_rfft(half)
    spectrum = torch.fft.rfftn(volume.to(torch.float32), dim=(-3, -2, -1))
    return torch.fft.irfftn(spectrum * half, s=(z, y, x), dim=(-3, -2, -1))
