"""Phantom pieces: blob rendering, particle placement, rotations, every preset's scene."""

from __future__ import annotations

import numpy as np
import pytest

from isonet2.simulate import PRESETS, get_preset
from isonet2.simulate.macromolecules import add_particles, make_template, random_rotations
from isonet2.simulate.phantom import make_phantom
from isonet2.simulate.scene import Scene
from isonet2.simulate.splat import gaussian_mass, render_blobs


def test_render_blobs_keeps_mass_peak_and_wraps_y_and_x() -> None:
    shape = (32, 32, 32)
    sigma = np.array([1.5, 1.5])
    masses = gaussian_mass(np.array([1.0, 2.0]), sigma)
    centres = np.array([[16.0, 16.0, 16.0], [16.0, 8.0, 0.0]])
    volume = render_blobs(shape, centres, masses, sigma)
    assert volume.sum() == pytest.approx(masses.sum(), rel=1e-4)
    assert volume[16, 16, 16] == pytest.approx(1.0, rel=0.05)
    assert volume[16, 8, 1] == pytest.approx(volume[16, 8, 31], rel=1e-4)
    assert volume.min() >= 0.0


def test_random_rotations_are_proper_rotations() -> None:
    rotations = random_rotations(50, np.random.default_rng(0))
    identity = np.broadcast_to(np.eye(3), (50, 3, 3))
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), identity, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)


def test_particles_fill_the_slab_without_heavy_overlap() -> None:
    rng = np.random.default_rng(1)
    scene = Scene((64, 128, 128), pixel_size_angstrom=10.0, slab_thickness_voxel=40.0)
    templates = [make_template(scene, d, 1.0, rng) for d in (100.0, 150.0, 200.0)]
    placed = add_particles(scene, templates, volume_fraction=0.1, rng=rng)
    assert placed == len(scene.sphere_radii) >= 30
    delta = scene.minimum_image(scene.sphere_centres[:, None] - scene.sphere_centres[None])
    distance = np.linalg.norm(delta, axis=2) + np.eye(placed) * 1e9
    reach = 0.9 * (scene.sphere_radii[:, None] + scene.sphere_radii[None])
    assert np.all(distance >= reach - 1e-9)
    z = scene.sphere_centres[:, 0]
    assert np.all(z - scene.sphere_radii >= scene.slab_low - 1e-9)
    assert np.all(z + scene.sphere_radii <= scene.slab_high + 1e-9)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_slab_of_nonnegative_density(name: str) -> None:
    preset = get_preset(name)
    assert len(preset.phantom.particle_diameters_angstrom) >= 3
    density = make_phantom(
        (64, 64, 64), preset.pixel_size_angstrom, preset.phantom, np.random.default_rng(0)
    )
    assert density.dtype == np.float32 and density.min() >= 0.0
    assert density[:3].max() < 1e-6 and density[-3:].max() < 1e-6
    assert density.max() > preset.phantom.ice_density + 0.5 * preset.phantom.protein_density
