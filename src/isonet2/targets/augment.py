"""Random rotations of cubes with their wedge masks, and back-projection-like wedge noise.

Example:
    generator = torch.Generator().manual_seed(0)                # a CPU generator
    rotation = draw_rotation(random_rot_weight=0.2, generator=generator, mirrors=False)
    rotated = rotation.volumes(cubes)                            # (b, 1, c, c, c)
    rotated_wedge = rotated_mask_rfft(rotation, wedge_centred)   # (b, 1, c, c, c//2+1), 0/1
    amplitude = noise_amplitude("ramp", c, device=cubes.device)  # (c, c, c//2+1)
    noise = wedge_noise(cubes.shape, wedge_rfft * amplitude, 0.5 * cubes.std(), generator)

Rotation policy (ALGORITHM §5): per batch, with probability 1 - random_rot_weight one of the 23
non-identity rotations of the cube group (exact index maps, `isonet2.fourier.rotations`),
otherwise one rotation drawn uniformly from SO(3) (trilinear resampling of the cubes upsampled
with cubic midpoints, reflected at the faces; its rotated mask is thresholded at 0.5 to stay
binary). With ``mirrors`` (refine --train_mirrors), half the batches are then also mirrored
(x -> -x, exact): the network also sees mirror images, as ``predict --tta_mirrors`` shows it.
The whole batch shares the rotation.

Every random draw derives from the one CPU ``torch.Generator`` passed in: rotations are drawn
from it directly (the same on every device), noise on the data's device (see
``standard_normal``).
"""

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.grids import Device, centred_to_rfft, frequency_indices
from isonet2.fourier.rotations import (
    CUBE_ROTATIONS,
    mirror_x,
    random_rotation_matrices,
    rotate_centred_mask,
    rotate_centred_spectrum,
    rotate_cube,
    rotate_volume,
)

logger = logging.getLogger(__name__)


class Rotation(Protocol):
    """One rotation, applied alike to real-space cubes and to centred Fourier masks."""

    def volumes(self, volumes: torch.Tensor) -> torch.Tensor:
        """Rotate real-space cubes (b, 1, c, c, c) about voxel c//2; float32 back."""
        ...

    def centred_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Rotate centred binary Fourier masks (b, 1, c, c, c) to match ``volumes``; 0/1 back."""
        ...


@dataclass(frozen=True)
class CubeRotation:
    """Rotation ``CUBE_ROTATIONS[index]`` of the 24-element cube group (exact, no resampling)."""

    index: int

    def volumes(self, volumes: torch.Tensor) -> torch.Tensor:
        return rotate_cube(volumes.to(torch.float32), self.index).contiguous()

    def centred_masks(self, masks: torch.Tensor) -> torch.Tensor:
        return rotate_centred_spectrum(masks, self.index)


@dataclass(frozen=True)
class ArbitraryRotation:
    """Rotation by a (3, 3) float32 matrix on (z, y, x) coordinates: trilinear resampling of the
    midpoint-upsampled cubes, reflected at the faces (``rotate_volume(fine=True)``)."""

    matrix: torch.Tensor

    def volumes(self, volumes: torch.Tensor) -> torch.Tensor:
        # the batch shares the rotation: resample it as the channels of one volume, one grid
        as_channels = volumes.transpose(0, 1)
        matrix = self.matrix.to(volumes.device).unsqueeze(0)
        return rotate_volume(as_channels, matrix, fine=True).transpose(0, 1).contiguous()

    def centred_masks(self, masks: torch.Tensor) -> torch.Tensor:
        as_channels = masks.transpose(0, 1)
        matrix = self.matrix.to(masks.device).unsqueeze(0)
        rotated = rotate_centred_mask(as_channels, matrix).transpose(0, 1)
        return (rotated > 0.5).to(torch.float32)


@dataclass(frozen=True)
class Mirrored:
    """A rotation followed by the mirror x -> -x about voxel c//2 (``mirror_x``, exact)."""

    rotation: Rotation

    def volumes(self, volumes: torch.Tensor) -> torch.Tensor:
        return mirror_x(self.rotation.volumes(volumes)).contiguous()

    def centred_masks(self, masks: torch.Tensor) -> torch.Tensor:
        return mirror_x(self.rotation.centred_masks(masks))


def draw_rotation(
    random_rot_weight: float, generator: torch.Generator, *, mirrors: bool = False
) -> Rotation:
    """The batch's rotation: arbitrary with probability ``random_rot_weight``, else one of the
    23 non-identity cube rotations, uniformly; with ``mirrors``, then mirrored with probability
    1/2. Draws from the CPU ``generator`` only (without ``mirrors`` exactly the draws it made
    before mirrors existed, so a seed gives the same run)."""
    rotation: Rotation
    if float(torch.rand((), generator=generator)) < random_rot_weight:
        rotation = ArbitraryRotation(random_rotation_matrices(1, generator)[0])
    else:
        rotation = CubeRotation(int(torch.randint(1, len(CUBE_ROTATIONS), (), generator=generator)))
    if mirrors and float(torch.rand((), generator=generator)) < 0.5:
        return Mirrored(rotation)
    return rotation


def rotated_mask_rfft(rotation: Rotation, masks_centred: torch.Tensor) -> torch.Tensor:
    """Rotate centred masks (b, 1, c, c, c); return the rfft layout (b, 1, c, c, c//2+1)."""
    return centred_to_rfft(rotation.centred_masks(masks_centred))


def standard_normal(
    shape: Sequence[int], generator: torch.Generator, device: Device
) -> torch.Tensor:
    """float32 N(0, 1) samples on ``device``, reproducible from the CPU ``generator``.

    On the CPU they come from ``generator`` itself; on an accelerator from a generator there,
    seeded by one draw of ``generator`` (drawing on the CPU and copying costs a training step
    about 20 % at 96³). A seed thus reproduces the noise per device type, not across them.
    """
    target = torch.device(device) if device is not None else torch.device("cpu")
    if target.type == "cpu":
        return torch.randn(tuple(shape), generator=generator)
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    local = torch.Generator(target).manual_seed(seed)
    return torch.randn(tuple(shape), generator=local, device=target)


def _flat(rho_over_nyquist: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(rho_over_nyquist)


def _ramp(rho_over_nyquist: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(rho_over_nyquist)


def _hamming_ramp(rho_over_nyquist: torch.Tensor) -> torch.Tensor:
    window = 0.54 + 0.46 * torch.cos(math.pi * rho_over_nyquist.clamp(max=1.0))
    return torch.sqrt(rho_over_nyquist) * window


_NOISE_AMPLITUDES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "None": _flat,
    "ramp": _ramp,
    "hamming": _hamming_ramp,
}


def noise_amplitude(noise_mode: str, cube_size: int, *, device: Device = None) -> torch.Tensor:
    """Spectral amplitude of back-projection-like noise, rfft layout (c, c, c//2+1), float32.

    With rho = sqrt(kz'² + kx'²) the frequency perpendicular to the tilt axis Y (cycles/pixel,
    Nyquist 0.5) — the radial frequency inside each measured central plane — a weighted
    back-projection of white-noise images has power ∝ ramp(rho)² x plane density ∝ rho² / rho:
    "ramp" is amplitude sqrt(rho / 0.5); "hamming" multiplies that by the Hamming window
    0.54 + 0.46 cos(pi rho / 0.5) of the Hamming-ramp filter; "None" is white (all ones).
    Multiply by a wedge mask to keep the noise inside the measured region.

    Args:
        noise_mode: one of ``isonet2.targets.settings.NOISE_MODES`` (validated there).
        cube_size: the cube's edge c in voxels.
        device: where the result lives.
    """
    shape = (cube_size, cube_size, cube_size)
    kz, _, kx = frequency_indices(shape, rfft=True, device=device)
    rho = torch.sqrt(
        (kz.to(torch.float32) / cube_size) ** 2 + (kx.to(torch.float32) / cube_size) ** 2
    )
    amplitude = _NOISE_AMPLITUDES[noise_mode](rho / 0.5)
    return amplitude.expand(cube_size, cube_size, cube_size // 2 + 1).contiguous()


def wedge_noise(
    shape: Sequence[int],
    noise_filter: torch.Tensor,
    std: torch.Tensor | float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Noise cubes (b, 1, c, c, c) = white noise shaped by ``noise_filter``, exactly ``std`` each.

    Args:
        shape: (b, 1, c, c, c).
        noise_filter: real rfft-layout filter, (c, c, c//2+1) or per cube (b, 1, c, c, c//2+1),
            e.g. wedge x ``noise_amplitude``; its device is the result's.
        std: wanted standard deviation of each noise cube: a number or (b, 1, 1, 1, 1).
        generator: CPU generator for the white noise.
    """
    white = standard_normal(shape, generator, noise_filter.device)
    noise = apply_fourier_filter(white, noise_filter)
    scale = noise.std(dim=(-4, -3, -2, -1), keepdim=True).clamp_min(1e-12)
    return noise * (std / scale)
