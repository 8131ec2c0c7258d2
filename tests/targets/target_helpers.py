"""Helpers of the target-strategy tests: tiny physics records, a zero network, random batches."""

from __future__ import annotations

import torch

from isonet2.targets.settings import TomogramPhysics


def physics_record(
    defocus_angstrom: float = 30000.0, tilt_min_deg: float = -60.0, tilt_max_deg: float = 60.0
) -> TomogramPhysics:
    """A 10 Å / 300 kV tomogram record with the given defocus and tilt range."""
    return TomogramPhysics(
        pixel_size_angstrom=10.0,
        defocus_angstrom=defocus_angstrom,
        voltage_kv=300.0,
        cs_mm=2.7,
        amplitude_contrast=0.1,
        tilt_min_deg=tilt_min_deg,
        tilt_max_deg=tilt_max_deg,
    )


def two_tomograms() -> list[TomogramPhysics]:
    """Two tomograms that differ in defocus and (asymmetric) tilt range."""
    return [physics_record(30000.0, -60.0, 60.0), physics_record(45000.0, -40.0, 55.0)]


def zero_model(x: torch.Tensor) -> torch.Tensor:
    """A network that always predicts zeros."""
    return torch.zeros_like(x)


def random_batch(
    b: int, c: int, seed: int = 0, tomo: list[int] | None = None
) -> dict[str, torch.Tensor]:
    """Independent N(0, 1) even, odd and x cubes (b, 1, c, c, c) and tomogram indices."""
    gen = torch.Generator().manual_seed(seed)
    cubes = {k: torch.randn(b, 1, c, c, c, generator=gen) for k in ("even", "odd", "x")}
    indices = tomo if tomo is not None else [i % 2 for i in range(b)]
    return {**cubes, "tomo": torch.tensor(indices, dtype=torch.int64)}


def spectrum_energy(volumes: torch.Tensor, mask_rfft: torch.Tensor) -> torch.Tensor:
    """Fourier energy of (b, 1, c, c, c) volumes inside an rfft-layout mask, per cube (b,)."""
    spectrum = torch.fft.rfftn(volumes.double(), dim=(-3, -2, -1))
    return ((spectrum.abs() ** 2) * mask_rfft.double()).sum(dim=(-4, -3, -2, -1))
