"""A crowded cellular specimen in a lamella: the density that `simulate` images.

Example:
    rng = np.random.default_rng(0)
    density = make_phantom((128, 256, 256), 10.0, get_preset("cell").phantom, rng)

The slab (thickness `slab_thickness_fraction` of Z, centred in Z) holds vitreous ice of
constant density with, on top of it, in this order: a curved membrane sheet, vesicles,
actin-like filaments, a hexagonal 2D crystal on the sheet and crowded copies of several
particle species. Above and below the slab is vacuum (density 0). The phantom is periodic in
Y and X, like an infinite lamella, so a tilted ray always crosses the full slab.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import erf

from isonet2.simulate.macromolecules import (
    add_filaments,
    add_lattice_patch,
    add_particles,
    make_template,
)
from isonet2.simulate.membranes import add_membrane_sheet, add_vesicles
from isonet2.simulate.presets import PhantomParams
from isonet2.simulate.scene import Scene
from isonet2.simulate.splat import render_blobs

logger = logging.getLogger(__name__)


def make_phantom(
    shape_zyx: tuple[int, int, int],
    pixel_size_angstrom: float,
    params: PhantomParams,
    rng: np.random.Generator,
) -> np.ndarray:
    """Density of a simulated lamella.

    Args:
        shape_zyx: volume shape (z, y, x); Z is the beam axis and the slab normal.
        pixel_size_angstrom: voxel size; object sizes in `params` are in Å.
        params: what the specimen holds.
        rng: the only source of randomness.

    Returns:
        (z, y, x) float32 density >= 0: 0 in vacuum, `ice_density` in bare ice, higher in
        membranes and proteins.
    """
    scene = Scene(
        shape_zyx=shape_zyx,
        pixel_size_angstrom=pixel_size_angstrom,
        slab_thickness_voxel=params.slab_thickness_fraction * shape_zyx[0],
    )
    sheet_side = add_membrane_sheet(scene, params, rng) if params.membrane_sheet else 0.0
    add_vesicles(scene, params, rng)
    add_filaments(scene, params, rng)
    if params.lattice_patch:
        add_lattice_patch(scene, params.protein_density, sheet_side, rng)
    templates = [
        make_template(scene, diameter, params.protein_density, rng)
        for diameter in params.particle_diameters_angstrom
    ]
    add_particles(scene, templates, params.particle_volume_fraction, rng)
    objects = render_blobs(
        shape_zyx,
        np.concatenate([np.zeros((0, 3)), *scene.blob_centres]),
        np.concatenate([np.zeros(0), *scene.blob_masses]),
        np.concatenate([np.zeros(0), *scene.blob_sigmas]),
    )
    profile = slab_profile(shape_zyx[0], scene.slab_low, scene.slab_high)
    density = (objects + np.float32(params.ice_density)) * profile[:, None, None]
    return density.astype(np.float32, copy=False)


def slab_profile(size_z: int, low: float, high: float) -> np.ndarray:
    """(size_z,) float32 occupancy of the slab [low, high] (voxel coordinates), soft edges.

    1 inside, 0 in the vacuum; the faces are error-function steps one voxel wide, so the
    slab has no aliased hard edge.
    """
    z = np.arange(size_z, dtype=np.float64)
    profile = 0.5 * (erf(z - low) - erf(z - high))
    return profile.astype(np.float32)
