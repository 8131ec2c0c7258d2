"""A phantom under construction: the blobs placed so far and the space they occupy.

Example:
    scene = Scene((64, 128, 128), pixel_size_angstrom=10.0, slab_thickness_voxel=40.0)
    free = scene.is_free(candidates_zyx, radii_voxel)          # (n,) bool
    scene.add_blobs(centres_zyx, masses, sigmas_voxel)
    scene.add_spheres(centres_zyx, radii_voxel)

Coordinates are voxel indices (z, y, x); Y and X are periodic (the lamella is infinite and
the phantom tiles), Z is not: objects must stay between `slab_low` and `slab_high`.
Obstacles are kept as simple shapes (spheres, spherical shells, segments and a height-field
sheet) so a placement test is a few vectorised distance computations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

_CHUNK = 512
"""Candidates tested per block, bounding the (candidates x obstacles) distance arrays."""


@dataclass(frozen=True)
class HeightSheet:
    """A membrane sheet z = height(y, x), periodic in Y and X."""

    height: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(y, x) voxel coordinates -> z of the sheet's mid-plane, same shape."""
    half_thickness_voxel: float


@dataclass
class Scene:
    """Blobs (centre, mass, sigma) and obstacles accumulated while building a phantom."""

    shape_zyx: tuple[int, int, int]
    pixel_size_angstrom: float
    slab_thickness_voxel: float
    blob_centres: list[np.ndarray] = field(default_factory=list)
    blob_masses: list[np.ndarray] = field(default_factory=list)
    blob_sigmas: list[np.ndarray] = field(default_factory=list)
    sphere_centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    sphere_radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shell_centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    shell_radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shell_half_thickness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    segment_midpoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    segment_directions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    segment_half_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    segment_radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sheet: HeightSheet | None = None

    @property
    def slab_centre(self) -> float:
        """Z index of the slab's mid-plane (the middle of the volume)."""
        return (self.shape_zyx[0] - 1) / 2.0

    @property
    def slab_low(self) -> float:
        """Lowest Z coordinate objects may reach."""
        return self.slab_centre - self.slab_thickness_voxel / 2.0

    @property
    def slab_high(self) -> float:
        """Highest Z coordinate objects may reach."""
        return self.slab_centre + self.slab_thickness_voxel / 2.0

    def voxels(self, length_angstrom: float) -> float:
        """A length in Å expressed in voxels."""
        return length_angstrom / self.pixel_size_angstrom

    def random_centres(self, radii_voxel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, 3) uniform random centres keeping spheres of the given radii inside the slab."""
        _, size_y, size_x = self.shape_zyx
        low = self.slab_low + radii_voxel
        high = np.maximum(self.slab_high - radii_voxel, low)
        z = low + (high - low) * rng.random(len(radii_voxel))
        y = size_y * rng.random(len(radii_voxel))
        x = size_x * rng.random(len(radii_voxel))
        return np.stack([z, y, x], axis=1)

    def minimum_image(self, delta_zyx: np.ndarray) -> np.ndarray:
        """Differences of positions (..., 3) folded to the nearest periodic image in Y, X."""
        folded = delta_zyx.copy()
        for axis in (1, 2):
            size = self.shape_zyx[axis]
            folded[..., axis] -= size * np.round(folded[..., axis] / size)
        return folded

    def add_blobs(self, centres_zyx: np.ndarray, masses: np.ndarray, sigmas: np.ndarray) -> None:
        """Record Gaussian blobs (centres (n, 3) voxel, masses (n,), sigmas (n,) voxel)."""
        self.blob_centres.append(np.asarray(centres_zyx, dtype=np.float64).reshape(-1, 3))
        self.blob_masses.append(np.broadcast_to(masses, len(self.blob_centres[-1])).copy())
        self.blob_sigmas.append(np.broadcast_to(sigmas, len(self.blob_centres[-1])).copy())

    def add_spheres(self, centres_zyx: np.ndarray, radii_voxel: np.ndarray) -> None:
        """Mark solid spheres (particles) as occupied."""
        self.sphere_centres = np.concatenate([self.sphere_centres, centres_zyx.reshape(-1, 3)])
        self.sphere_radii = np.concatenate([self.sphere_radii, np.ravel(radii_voxel)])

    def add_shell(self, centre_zyx: np.ndarray, radius: float, half_thickness: float) -> None:
        """Mark a spherical membrane shell as occupied (its lumen stays free)."""
        self.shell_centres = np.concatenate([self.shell_centres, centre_zyx.reshape(1, 3)])
        self.shell_radii = np.append(self.shell_radii, radius)
        self.shell_half_thickness = np.append(self.shell_half_thickness, half_thickness)

    def add_segment(
        self, midpoint_zyx: np.ndarray, direction: np.ndarray, length: float, radius: float
    ) -> None:
        """Mark a straight rod (midpoint, unit direction, length and radius in voxels)."""
        self.segment_midpoints = np.concatenate([self.segment_midpoints, midpoint_zyx[None]])
        self.segment_directions = np.concatenate([self.segment_directions, direction[None]])
        self.segment_half_lengths = np.append(self.segment_half_lengths, length / 2.0)
        self.segment_radii = np.append(self.segment_radii, radius)

    def is_free(self, centres_zyx: np.ndarray, radii_voxel: np.ndarray) -> np.ndarray:
        """(n,) True where a sphere (centre, radius) overlaps no obstacle and fits the slab.

        Spheres may overlap other spheres by 10 % of the summed radii (touching proteins);
        a sphere inside a vesicle's lumen is free.
        """
        z = centres_zyx[:, 0]
        free = (z - radii_voxel >= self.slab_low - 1e-9) & (
            z + radii_voxel <= self.slab_high + 1e-9
        )
        for start in range(0, len(centres_zyx), _CHUNK):
            block = slice(start, start + _CHUNK)
            free[block] &= self._block_is_free(centres_zyx[block], radii_voxel[block])
        return free

    def _block_is_free(self, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
        free = np.ones(len(centres), dtype=bool)
        if len(self.sphere_radii):
            delta = self.minimum_image(centres[:, None, :] - self.sphere_centres[None])
            reach = 0.9 * (radii[:, None] + self.sphere_radii[None])
            free &= np.all(np.linalg.norm(delta, axis=2) >= reach, axis=1)
        if len(self.shell_radii):
            delta = self.minimum_image(centres[:, None, :] - self.shell_centres[None])
            gap = np.abs(np.linalg.norm(delta, axis=2) - self.shell_radii[None])
            free &= np.all(gap >= radii[:, None] + self.shell_half_thickness[None], axis=1)
        if len(self.segment_radii):
            delta = self.minimum_image(centres[:, None, :] - self.segment_midpoints[None])
            along = np.einsum("nsk,sk->ns", delta, self.segment_directions)
            along = np.clip(along, -self.segment_half_lengths, self.segment_half_lengths)
            across = delta - along[..., None] * self.segment_directions[None]
            reach = radii[:, None] + self.segment_radii[None]
            free &= np.all(np.linalg.norm(across, axis=2) >= reach, axis=1)
        if self.sheet is not None:
            gap = np.abs(centres[:, 0] - self.sheet.height(centres[:, 1], centres[:, 2]))
            free &= gap >= radii + self.sheet.half_thickness_voxel
        return free

    def place_greedily(self, candidates_zyx: np.ndarray, radii_voxel: np.ndarray) -> np.ndarray:
        """Indices of candidates kept, in order, so that kept spheres are free and disjoint.

        Tests all candidates against the existing obstacles at once, then the survivors one
        by one against those kept before them. Kept spheres are added to the obstacles.
        """
        survivors = np.flatnonzero(self.is_free(candidates_zyx, radii_voxel))
        kept: list[int] = []
        for index in survivors:
            if kept:
                delta = self.minimum_image(candidates_zyx[kept] - candidates_zyx[index])
                reach = 0.9 * (radii_voxel[kept] + radii_voxel[index])
                if np.any(np.linalg.norm(delta, axis=1) < reach):
                    continue
            kept.append(int(index))
        kept_array = np.asarray(kept, dtype=np.int64)
        self.add_spheres(candidates_zyx[kept_array], radii_voxel[kept_array])
        return kept_array
