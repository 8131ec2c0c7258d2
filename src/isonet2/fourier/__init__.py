"""Fourier-space building blocks: pure functions of (shape, physical parameters, device) -> tensor.

Example:
    from isonet2.fourier import apply_fourier_filter, ctf_3d, missing_wedge_mask

    wedge = missing_wedge_mask((96, 96, 96), -60.0, 60.0, rfft=True)
    ctf = ctf_3d((96, 96, 96), 5.4, 30000.0, 300.0, 2.7, 0.1, absolute=True, rfft=True)
    filtered = apply_fourier_filter(batch, wedge * ctf)      # batch (b, 1, 96, 96, 96)

Volumes are (z, y, x) float32 (Z = beam, Y = tilt axis), batches (b, 1, z, y, x). Filters come in
the centred layout (zero frequency at index N//2, as fftshift) or the rfft layout; see ``grids``.
"""

from isonet2.fourier.ctf import (
    ctf_1d,
    ctf_3d,
    electron_wavelength_angstrom,
    first_peak_clip,
    phase_flip_filter,
    wiener_filter_3d,
)
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.fsc import fourier_shell_correlation, resolution_at_threshold
from isonet2.fourier.grids import (
    centred_frequencies,
    centred_indices,
    centred_to_rfft,
    frequency_indices,
    radial_frequency_grid,
)
from isonet2.fourier.rotations import (
    CUBE_ROTATIONS,
    cube_rotation_matrices,
    midpoint_upsample,
    random_rotation_matrices,
    rotate_centred_mask,
    rotate_centred_spectrum,
    rotate_cube,
    rotate_volume,
)
from isonet2.fourier.wedge import missing_wedge_mask

__all__ = [
    "CUBE_ROTATIONS",
    "apply_fourier_filter",
    "centred_frequencies",
    "centred_indices",
    "centred_to_rfft",
    "ctf_1d",
    "ctf_3d",
    "cube_rotation_matrices",
    "electron_wavelength_angstrom",
    "first_peak_clip",
    "fourier_shell_correlation",
    "frequency_indices",
    "midpoint_upsample",
    "missing_wedge_mask",
    "phase_flip_filter",
    "radial_frequency_grid",
    "random_rotation_matrices",
    "resolution_at_threshold",
    "rotate_centred_mask",
    "rotate_centred_spectrum",
    "rotate_cube",
    "rotate_volume",
    "wiener_filter_3d",
]
