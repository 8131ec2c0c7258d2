"""Proteins for the phantom: particle species, crowded random copies, a 2D crystal, filaments.

Example:
    templates = [make_template(scene, d, 1.0, rng) for d in (120.0, 180.0, 250.0)]
    add_particles(scene, templates, volume_fraction=0.12, rng=rng)
    add_filaments(scene, params, rng)

A particle species is a rigid cluster of Gaussian blobs with a fixed random shape (blob
centres drawn in a random ellipsoid), scaled so its peak density is the protein density.
Copies get uniform random orientations and are placed by random sequential addition: no two
overlap by more than 10 % of their radii, and none touches a membrane or filament.
Filaments are actin-like: subunits on a helix of 27.5 Å rise and -166.7° twist.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from isonet2.simulate.membranes import blob_sigma_voxel
from isonet2.simulate.presets import PhantomParams
from isonet2.simulate.scene import Scene
from isonet2.simulate.splat import gaussian_mass

logger = logging.getLogger(__name__)

ACTIN_RISE_ANGSTROM = 27.5
ACTIN_TWIST_DEG = -166.7
ACTIN_SUBUNIT_RADIUS_ANGSTROM = 22.0
ACTIN_SUBUNIT_SIGMA_ANGSTROM = 14.0
LATTICE_PARTICLE_DIAMETER_ANGSTROM = 100.0


@dataclass(frozen=True)
class ParticleTemplate:
    """One particle species: blobs around the particle's centre, all lengths in voxels."""

    offsets_zyx: np.ndarray
    """(k, 3) blob centres relative to the particle centre."""
    masses: np.ndarray
    """(k,) blob masses (integrals)."""
    sigma_voxel: float
    """Width shared by the species' blobs."""
    radius_voxel: float
    """Radius of the sphere the particle occupies, for overlap tests."""


def make_template(
    scene: Scene,
    diameter_angstrom: float,
    peak_density: float,
    rng: np.random.Generator,
    flatness: float = 1.0,
) -> ParticleTemplate:
    """A random compact cluster of 12-30 blobs about `diameter_angstrom` across.

    `flatness` < 1 squashes the shape along Z (membrane proteins lying in a sheet).
    """
    radius = scene.voxels(diameter_angstrom / 2.0)
    sigma = blob_sigma_voxel(scene, diameter_angstrom / 10.0)
    count = int(rng.integers(12, 31))
    semi_axes = max(radius - sigma, 0.0) * np.array(
        [flatness * rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0), 1.0]
    )
    directions = rng.standard_normal((count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    offsets = directions * rng.random((count, 1)) ** (1.0 / 3.0) * semi_axes
    offsets -= offsets.mean(axis=0)
    masses = _peak_normalised_masses(offsets, sigma, peak_density)
    extent = float(np.max(np.linalg.norm(offsets, axis=1))) + 1.5 * sigma
    return ParticleTemplate(offsets, masses, sigma, extent)


def random_rotations(count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 3, 3) rotation matrices uniform on SO(3) (normalised Gaussian quaternions)."""
    w, a, b, c = rng.standard_normal((4, count))
    norm = np.sqrt(w**2 + a**2 + b**2 + c**2)
    w, a, b, c = w / norm, a / norm, b / norm, c / norm
    return np.stack(
        [
            np.stack([1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)], -1),
            np.stack([2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)], -1),
            np.stack([2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)], -1),
        ],
        axis=1,
    )


def add_copies(
    scene: Scene, template: ParticleTemplate, centres_zyx: np.ndarray, rotations: np.ndarray
) -> None:
    """Add copies of `template` at (n, 3) centres with (n, 3, 3) rotations (blobs only)."""
    blobs = centres_zyx[:, None, :] + np.einsum("nij,kj->nki", rotations, template.offsets_zyx)
    masses = np.tile(template.masses, len(centres_zyx))
    scene.add_blobs(blobs.reshape(-1, 3), masses, np.full(len(masses), template.sigma_voxel))


def add_particles(
    scene: Scene,
    templates: list[ParticleTemplate],
    volume_fraction: float,
    rng: np.random.Generator,
    rounds: int = 30,
) -> int:
    """Crowd the slab with copies of the species: equal numbers, at least one of each.

    Asks for as many as fill `volume_fraction` of the slab with their bounding spheres.

    Returns:
        The number of particles placed (fewer than asked when the slab is too crowded).
    """
    _, size_y, size_x = scene.shape_zyx
    radii = np.array([t.radius_voxel for t in templates])
    mean_volume = float(np.mean(4.0 / 3.0 * math.pi * radii**3))
    slab_volume = scene.slab_thickness_voxel * size_y * size_x
    requested = max(round(volume_fraction * slab_volume / mean_volume), len(templates))
    remaining = rng.permutation(np.arange(requested) % len(templates))
    for _ in range(rounds):
        if len(remaining) == 0:
            break
        centres = scene.random_centres(radii[remaining], rng)
        kept = scene.place_greedily(centres, radii[remaining])
        rotations = random_rotations(len(kept), rng)
        for species, template in enumerate(templates):
            chosen = remaining[kept] == species
            add_copies(scene, template, centres[kept][chosen], rotations[chosen])
        remaining = np.delete(remaining, kept)
    placed = requested - len(remaining)
    logger.debug("placed %d of %d particles", placed, requested)
    return placed


def add_lattice_patch(
    scene: Scene, peak_density: float, sheet_side: float, rng: np.random.Generator
) -> None:
    """A hexagonal 2D crystal of one flat species on the sheet, facing the slab's middle.

    The patch is a disc a quarter of the field of view across; all copies share one
    orientation. `sheet_side` is what `add_membrane_sheet` returned.
    """
    if scene.sheet is None:
        return
    template = make_template(scene, LATTICE_PARTICLE_DIAMETER_ANGSTROM, peak_density, rng, 0.5)
    _, size_y, size_x = scene.shape_zyx
    spacing = 2.2 * template.radius_voxel
    patch_radius = 0.25 * min(size_y, size_x)
    reach = math.ceil(patch_radius / spacing) + 1
    i, j = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1), indexing="ij")
    u = spacing * (i + 0.5 * j).ravel()
    v = spacing * (math.sqrt(3.0) / 2.0 * j).ravel()
    inside = np.hypot(u, v) <= patch_radius
    angle = rng.uniform(0.0, math.pi / 3.0)
    y = rng.uniform(0, size_y) + math.cos(angle) * u[inside] - math.sin(angle) * v[inside]
    x = rng.uniform(0, size_x) + math.sin(angle) * u[inside] + math.cos(angle) * v[inside]
    lift = 1.05 * (scene.sheet.half_thickness_voxel + template.radius_voxel)
    centres = np.stack([scene.sheet.height(y, x) - sheet_side * lift, y, x], axis=1)
    kept = scene.place_greedily(centres, np.full(len(centres), template.radius_voxel))
    in_plane = _rotation_about_z(rng.uniform(0.0, 2.0 * math.pi))
    add_copies(scene, template, centres[kept], np.broadcast_to(in_plane, (len(kept), 3, 3)))


def add_filaments(scene: Scene, params: PhantomParams, rng: np.random.Generator) -> None:
    """Straight actin-like filaments in random, mostly in-plane directions."""
    _, size_y, size_x = scene.shape_zyx
    area_um2 = size_y * size_x * scene.pixel_size_angstrom**2 * 1e-8
    expected = params.filaments_per_square_um * area_um2
    count = math.floor(expected + rng.random())
    sigma = blob_sigma_voxel(scene, ACTIN_SUBUNIT_SIGMA_ANGSTROM)
    helix_radius = scene.voxels(ACTIN_SUBUNIT_RADIUS_ANGSTROM)
    rod_radius = helix_radius + 2.0 * sigma
    longest = 0.9 * min(size_y, size_x)
    for _ in range(count):
        length = min(scene.voxels(rng.uniform(*params.filament_length_range_angstrom)), longest)
        azimuth = rng.uniform(0.0, 2.0 * math.pi)
        direction = np.array([rng.uniform(-0.15, 0.15), math.cos(azimuth), math.sin(azimuth)])
        direction /= np.linalg.norm(direction)
        half_height = abs(direction[0]) * length / 2.0 + rod_radius
        midpoints = scene.random_centres(np.full(30, half_height), rng)
        steps = np.linspace(-length / 2.0, length / 2.0, max(math.ceil(length / rod_radius), 2))
        for midpoint in midpoints:
            axis_points = midpoint + steps[:, None] * direction
            if np.all(scene.is_free(axis_points, np.full(len(steps), rod_radius))):
                _add_actin(
                    scene, midpoint, direction, length, helix_radius, sigma, params.protein_density
                )
                scene.add_segment(midpoint, direction, length, rod_radius)
                break


def _add_actin(
    scene: Scene,
    midpoint: np.ndarray,
    direction: np.ndarray,
    length: float,
    helix_radius: float,
    sigma: float,
    peak_density: float,
) -> None:
    """Subunit blobs on the actin helix along `direction`, centred on `midpoint`."""
    rise = scene.voxels(ACTIN_RISE_ANGSTROM)
    count = max(int(length / rise), 2)
    axial = (np.arange(count) - (count - 1) / 2.0) * rise
    twist = np.deg2rad(ACTIN_TWIST_DEG) * np.arange(count)
    first = np.cross(direction, [1.0, 0.0, 0.0])
    if np.linalg.norm(first) < 1e-6:
        first = np.cross(direction, [0.0, 1.0, 0.0])
    first /= np.linalg.norm(first)
    second = np.cross(direction, first)
    radial = np.cos(twist)[:, None] * first + np.sin(twist)[:, None] * second
    offsets = axial[:, None] * direction + helix_radius * radial
    masses = _peak_normalised_masses(offsets, sigma, peak_density)
    scene.add_blobs(midpoint + offsets, masses, np.full(count, sigma))


def _rotation_about_z(angle: float) -> np.ndarray:
    """(3, 3) rotation in the (y, x) plane, acting on (z, y, x) vectors."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _peak_normalised_masses(offsets: np.ndarray, sigma: float, peak: float) -> np.ndarray:
    """Equal blob masses scaled so the summed density at the densest blob centre is `peak`."""
    distance_sq = np.sum((offsets[:, None, :] - offsets[None, :, :]) ** 2, axis=2)
    overlap = np.exp(-distance_sq / (2.0 * sigma**2)).sum(axis=1).max()
    return np.full(len(offsets), gaussian_mass(np.array(peak / overlap), np.array(sigma)))
