"""Named parameter sets for `simulate`: what the specimen holds and how it is imaged.

Example:
    preset = get_preset("lamella-asym")
    preset.tilt_min_deg, preset.tilt_max_deg        # (-50.0, 65.0)
    preset.phantom.slab_thickness_fraction          # 0.4

A preset gives the scene (`PhantomParams`, physical sizes in Å so a scene looks the same at
any pixel size) and the acquisition defaults that `simulate_tomogram` uses for any argument
the caller leaves as None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from isonet2.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhantomParams:
    """What a simulated lamella holds.

    Densities are relative (protein 1.0); lengths are in Å and converted with the pixel size.
    Counts that depend on the imaged area or volume are given per area or as volume fractions,
    so a bigger box holds proportionally more.
    """

    slab_thickness_fraction: float = 0.6
    """Lamella thickness as a fraction of Z; the rest of Z is vacuum, half above, half below."""
    ice_density: float = 0.3
    """Constant density of vitreous ice inside the slab (vacuum outside is 0)."""
    protein_density: float = 1.0
    """Peak density of a particle above the ice."""
    membrane_density: float = 0.8
    """Peak density of one lipid head-group layer above the ice."""
    particle_volume_fraction: float = 0.25
    """Fraction of the slab volume the randomly placed particles fill (crowding)."""
    particle_diameters_angstrom: tuple[float, ...] = (120.0, 180.0, 250.0, 300.0)
    """One entry per particle species (at least 3); each species has its own random shape."""
    vesicle_volume_fraction: float = 0.08
    """Fraction of the slab volume inside vesicles."""
    vesicle_radius_range_angstrom: tuple[float, float] = (200.0, 600.0)
    """Vesicle radii are log-uniform in this range (capped so a vesicle fits in the slab)."""
    filaments_per_square_um: float = 120.0
    """Actin-like filaments per µm² of imaged area (Y·X)."""
    filament_length_range_angstrom: tuple[float, float] = (1000.0, 3000.0)
    """Filament lengths are uniform in this range (capped at 90 % of the box)."""
    membrane_sheet: bool = True
    """Add one large, gently curved bilayer sheet spanning the field of view inside the slab."""
    lattice_patch: bool = True
    """Add a hexagonal 2D crystal of identical particles on the sheet (needs membrane_sheet)."""


@dataclass(frozen=True)
class Preset:
    """A named scene plus the acquisition defaults that go with it."""

    name: str
    description: str
    phantom: PhantomParams
    pixel_size_angstrom: float
    tilt_min_deg: float
    tilt_max_deg: float
    tilt_step_deg: float
    defocus_angstrom: float
    """Underfocus in Å (positive)."""
    snr: float
    """Signal-to-noise ratio of each full-dose projection (see `acquisition.split_dose`)."""


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="cell",
            description="crowded cytoplasm: vesicles, a membrane sheet with a 2D crystal, "
            "actin filaments, four particle species; ±60°, 3° steps",
            phantom=PhantomParams(),
            pixel_size_angstrom=10.0,
            tilt_min_deg=-60.0,
            tilt_max_deg=60.0,
            tilt_step_deg=3.0,
            defocus_angstrom=35000.0,
            snr=0.1,
        ),
        Preset(
            name="lamella-asym",
            description="thin FIB lamella with a pre-tilted, asymmetric range -50..+65°",
            phantom=PhantomParams(
                slab_thickness_fraction=0.4,
                particle_volume_fraction=0.2,
                vesicle_radius_range_angstrom=(150.0, 400.0),
            ),
            pixel_size_angstrom=10.0,
            tilt_min_deg=-50.0,
            tilt_max_deg=65.0,
            tilt_step_deg=2.5,
            defocus_angstrom=35000.0,
            snr=0.1,
        ),
        Preset(
            name="sparse",
            description="few particles and vesicles, no sheet: easy to see each object",
            phantom=PhantomParams(
                slab_thickness_fraction=0.5,
                particle_volume_fraction=0.02,
                vesicle_volume_fraction=0.03,
                filaments_per_square_um=30.0,
                membrane_sheet=False,
                lattice_patch=False,
            ),
            pixel_size_angstrom=10.0,
            tilt_min_deg=-60.0,
            tilt_max_deg=60.0,
            tilt_step_deg=3.0,
            defocus_angstrom=30000.0,
            snr=0.2,
        ),
        Preset(
            name="ribosome",
            description="cytosol packed with ribosome-sized particles, no membranes",
            phantom=PhantomParams(
                particle_volume_fraction=0.2,
                particle_diameters_angstrom=(250.0, 280.0, 300.0, 150.0),
                vesicle_volume_fraction=0.0,
                filaments_per_square_um=0.0,
                membrane_sheet=False,
                lattice_patch=False,
            ),
            pixel_size_angstrom=8.0,
            tilt_min_deg=-60.0,
            tilt_max_deg=60.0,
            tilt_step_deg=3.0,
            defocus_angstrom=30000.0,
            snr=0.1,
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name is an InputError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise InputError(f"unknown simulate preset {name!r}; choose one of: {known}") from None
