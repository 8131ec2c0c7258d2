"""Projector and weighted back-projection: geometry, handedness against the wedge mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.simulate.acquisition import tilt_angles_deg
from isonet2.simulate.projector import back_project, detector_width, project
from isonet2.simulate.splat import gaussian_mass, render_blobs
from isonet2.simulate.wbp import angular_weights_rad, weighted_back_projection


def _blobs(shape: tuple[int, int, int], centres: np.ndarray, sigma: float) -> np.ndarray:
    count = len(centres)
    sigmas = np.full(count, sigma)
    return render_blobs(shape, centres, gaussian_mass(np.ones(count), sigmas), sigmas)


def _reconstruct(volume: np.ndarray, angles: np.ndarray) -> np.ndarray:
    images = project(torch.from_numpy(volume), angles, detector_width(volume.shape, angles))
    return weighted_back_projection(images, angles, volume.shape, apodization="none").numpy()


def test_tilt_angles_include_both_ends_within_the_step() -> None:
    symmetric = tilt_angles_deg(-60.0, 60.0, 3.0)
    assert len(symmetric) == 41 and symmetric[0] == -60.0 and symmetric[-1] == 60.0
    assert 0.0 in symmetric
    asymmetric = tilt_angles_deg(-50.0, 65.0, 3.0)
    assert asymmetric[0] == -50.0 and asymmetric[-1] == 65.0
    assert np.all(np.diff(asymmetric) <= 3.0) and len(asymmetric) == 40


def test_angular_weights_are_a_trapezoid_rule() -> None:
    weights = angular_weights_rad(np.array([-60.0, -30.0, 0.0, 30.0, 60.0]))
    step = np.deg2rad(30.0)
    np.testing.assert_allclose(weights, [step / 2, step, step, step, step / 2])
    assert weights.sum() == pytest.approx(np.deg2rad(120.0))


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, -60.0])
def test_a_tilted_ray_crosses_the_whole_slab(angle_deg: float) -> None:
    """X is periodic (an infinite lamella): every ray's path in the slab is thickness / cos t."""
    volume = torch.zeros(64, 8, 64)
    volume[22:42] = 1.0
    angles = np.array([angle_deg])
    images = project(volume, angles, detector_width(volume.shape, angles))
    expected = 20.0 / np.cos(np.deg2rad(angle_deg))
    np.testing.assert_allclose(images[0].numpy(), expected, rtol=0.03)


def test_back_projection_smears_along_the_beam_direction_of_its_tilt() -> None:
    """An image lit at u = 0 fills the ray through the centre, direction (z, x) = (cos t, -sin t)."""
    angle = 25.0
    shape = (64, 4, 64)
    width = detector_width(shape, np.array([angle]))
    image = torch.zeros(1, 4, width)
    image[0, :, width // 2] = 1.0
    smeared = back_project(image, np.array([angle]), shape)[:, 0, :]
    cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    along = (round(32 + 20 * cos), round(32 - 20 * sin))
    mirrored = (round(32 + 20 * cos), round(32 + 20 * sin))
    assert smeared[along] > 0.5
    assert smeared[mirrored] == 0.0


@pytest.mark.parametrize("tilt_range", [(-60.0, 60.0), (-50.0, 65.0)])
def test_wbp_puts_a_blob_back_where_it_was(tilt_range: tuple[float, float]) -> None:
    shape = (64, 64, 64)
    where = (40, 20, 25)
    volume = _blobs(shape, np.array([where], dtype=np.float64), sigma=1.5)
    reconstruction = _reconstruct(volume, tilt_angles_deg(*tilt_range, 3.0))
    assert np.unravel_index(np.argmax(reconstruction), shape) == where


def test_spectrum_of_an_asymmetric_series_lies_in_the_wedge_of_the_same_range() -> None:
    """The project's handedness test (ALGORITHM §3): -50..+65 fills the mask of [-50, 65]."""
    shape = (64, 64, 64)
    rng = np.random.default_rng(7)
    volume = _blobs(shape, rng.uniform(0.0, 64.0, size=(300, 3)), sigma=1.0)
    volume -= volume.mean()
    reconstruction = _reconstruct(volume, tilt_angles_deg(-50.0, 65.0, 2.5))
    power = np.abs(np.fft.fftshift(np.fft.fftn(reconstruction))) ** 2
    true_mask = missing_wedge_mask(shape, -50.0, 65.0).numpy() > 0
    mirrored = missing_wedge_mask(shape, -65.0, 50.0).numpy() > 0
    outside_true = power[~true_mask].sum() / power.sum()
    outside_mirrored = power[~mirrored].sum() / power.sum()
    assert outside_true < 0.03
    assert outside_mirrored > 5.0 * outside_true
