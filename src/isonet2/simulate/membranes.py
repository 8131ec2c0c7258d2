"""Lipid bilayers for the phantom: a large curved sheet and spherical vesicles.

Example:
    side = add_membrane_sheet(scene, params, rng)     # the sheet sits in this half of the slab
    add_vesicles(scene, params, rng)

A bilayer is two head-group layers 40 Å apart, each a thin Gaussian sheet drawn as a dense
carpet of blobs (spacing 1.5 sigma, so the carpet is smooth to 1e-4). The sheet is a height
field z = h(y, x) made of a few long sinusoids, periodic in Y and X like the rest of the
phantom; where it lies nearly flat its contrast sits in the missing wedge, as in real data.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from isonet2.simulate.presets import PhantomParams
from isonet2.simulate.scene import HeightSheet, Scene

logger = logging.getLogger(__name__)

HEADGROUP_SEPARATION_ANGSTROM = 40.0
LEAFLET_SIGMA_ANGSTROM = 6.0
MIN_SIGMA_VOXEL = 0.7
"""Narrower blobs alias on the voxel grid; every blob is at least this wide."""


def blob_sigma_voxel(scene: Scene, sigma_angstrom: float) -> float:
    """A blob width in voxels, no narrower than MIN_SIGMA_VOXEL (rounded so widths group)."""
    return round(max(scene.voxels(sigma_angstrom), MIN_SIGMA_VOXEL), 4)


def membrane_half_thickness_voxel(scene: Scene) -> float:
    """Half the space a bilayer occupies: half the head-group separation plus 2 sigma."""
    sigma = blob_sigma_voxel(scene, LEAFLET_SIGMA_ANGSTROM)
    return scene.voxels(HEADGROUP_SEPARATION_ANGSTROM / 2.0) + 2.0 * sigma


def add_membrane_sheet(scene: Scene, params: PhantomParams, rng: np.random.Generator) -> float:
    """Add a curved bilayer spanning Y and X in one half of the slab.

    Returns:
        +1.0 or -1.0: the side of the slab's mid-plane (in Z) the sheet lies on.
    """
    _, size_y, size_x = scene.shape_zyx
    half = membrane_half_thickness_voxel(scene)
    side = float(rng.choice([-1.0, 1.0]))
    base = scene.slab_centre + side * scene.slab_thickness_voxel / 4.0
    amplitude = 0.5 * max(scene.slab_thickness_voxel / 4.0 - half, 0.0)
    waves = np.array([(0, 1), (1, 0), (1, 1), (1, -1)])[rng.choice(4, size=2, replace=False)]
    shares = rng.dirichlet([1.0, 1.0]) * amplitude
    phases = rng.uniform(0.0, 2.0 * math.pi, size=2)
    wave_y = 2.0 * math.pi * waves[:, 0] / size_y
    wave_x = 2.0 * math.pi * waves[:, 1] / size_x

    def height(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        arguments = wave_y * y[..., None] + wave_x * x[..., None] + phases
        return base + np.sum(shares * np.sin(arguments), axis=-1)

    sigma = blob_sigma_voxel(scene, LEAFLET_SIGMA_ANGSTROM)
    count_y = math.ceil(size_y / (1.5 * sigma))
    count_x = math.ceil(size_x / (1.5 * sigma))
    grid_y, grid_x = np.meshgrid(
        np.arange(count_y) * size_y / count_y, np.arange(count_x) * size_x / count_x, indexing="ij"
    )
    y, x = grid_y.ravel(), grid_x.ravel()
    arguments = wave_y * y[:, None] + wave_x * x[:, None] + phases
    slope_y = np.sum(shares * wave_y * np.cos(arguments), axis=1)
    slope_x = np.sum(shares * wave_x * np.cos(arguments), axis=1)
    normal = np.stack([np.ones_like(y), -slope_y, -slope_x], axis=1)
    stretch = np.linalg.norm(normal, axis=1)
    normal /= stretch[:, None]
    area = (size_y / count_y) * (size_x / count_x) * stretch
    mid = np.stack([height(y, x), y, x], axis=1)
    _add_bilayer(scene, mid, normal, area, params.membrane_density)
    scene.sheet = HeightSheet(height=height, half_thickness_voxel=half)
    return side


def add_vesicles(scene: Scene, params: PhantomParams, rng: np.random.Generator) -> None:
    """Add spherical bilayer vesicles until they enclose the requested slab volume fraction."""
    half = membrane_half_thickness_voxel(scene)
    radius_min = scene.voxels(params.vesicle_radius_range_angstrom[0])
    radius_max = min(
        scene.voxels(params.vesicle_radius_range_angstrom[1]),
        scene.slab_thickness_voxel / 2.0 - half - 1.0,
    )
    if params.vesicle_volume_fraction <= 0.0 or radius_max < radius_min:
        return
    _, size_y, size_x = scene.shape_zyx
    slab_volume = scene.slab_thickness_voxel * size_y * size_x
    target = params.vesicle_volume_fraction * slab_volume
    sigma = blob_sigma_voxel(scene, LEAFLET_SIGMA_ANGSTROM)
    enclosed = 0.0
    attempts = 0
    while enclosed < target and attempts < 200:
        attempts += 1
        radius = math.exp(rng.uniform(math.log(radius_min), math.log(radius_max)))
        outer = np.full(16, radius + half)
        candidates = scene.random_centres(outer, rng)
        free = np.flatnonzero(scene.is_free(candidates, outer))
        if len(free) == 0:
            continue
        centre = candidates[free[0]]
        for sign in (-1.0, 1.0):
            leaflet_radius = radius + sign * scene.voxels(HEADGROUP_SEPARATION_ANGSTROM / 2.0)
            points, area = _sphere_points(leaflet_radius, sigma)
            _add_leaflet(scene, centre + points, area, params.membrane_density)
        scene.add_shell(centre, radius, half)
        enclosed += 4.0 / 3.0 * math.pi * radius**3
    logger.debug("vesicles enclose %.1f %% of the slab", 100.0 * enclosed / slab_volume)


def _add_bilayer(
    scene: Scene, mid_zyx: np.ndarray, normal: np.ndarray, area: np.ndarray, density: float
) -> None:
    """Two head-group layers at mid ± (separation / 2) along the unit normals."""
    offset = scene.voxels(HEADGROUP_SEPARATION_ANGSTROM / 2.0) * normal
    for sign in (-1.0, 1.0):
        _add_leaflet(scene, mid_zyx + sign * offset, area, density)


def _add_leaflet(scene: Scene, points_zyx: np.ndarray, area: np.ndarray, density: float) -> None:
    """A layer of peak `density` from points each standing for `area` voxel² of surface."""
    sigma = blob_sigma_voxel(scene, LEAFLET_SIGMA_ANGSTROM)
    masses = density * area * math.sqrt(2.0 * math.pi) * sigma
    scene.add_blobs(points_zyx, masses, np.full(len(points_zyx), sigma))


def _sphere_points(radius: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Near-uniform points on a sphere (Fibonacci spiral), spacing about 1.5 sigma.

    Returns:
        (n, 3) offsets from the centre (z, y, x) and the surface area per point, voxel².
    """
    count = max(math.ceil(4.0 * math.pi * radius**2 / (1.5 * sigma) ** 2), 12)
    index = np.arange(count) + 0.5
    cos_polar = 1.0 - 2.0 * index / count
    sin_polar = np.sqrt(1.0 - cos_polar**2)
    azimuth = math.pi * (3.0 - math.sqrt(5.0)) * index
    points = radius * np.stack(
        [cos_polar, sin_polar * np.sin(azimuth), sin_polar * np.cos(azimuth)], axis=1
    )
    return points, np.full(count, 4.0 * math.pi * radius**2 / count)
