"""NaN and infinite voxels are refused where volumes are read, naming the file and the voxel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from isonet2.errors import InputError
from isonet2.io.mrc import open_volume
from isonet2.preprocess.deconv import deconvolve, mean_std
from isonet2.preprocess.finite import require_finite, volume_name
from isonet2.preprocess.mask import make_mask
from isonet2.preprocess.normalize import central_slab_stats


def test_a_finite_block_passes() -> None:
    require_finite(np.zeros((2, 3, 4), np.float32), "t.mrc")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_first_bad_voxel_is_named_in_volume_coordinates(bad: float) -> None:
    block = np.ones((4, 5, 6), np.float32)
    block[1, 2, 3] = bad
    block[3, 4, 5] = np.nan  # a later one is not the one named
    with pytest.raises(InputError, match=r"^t\.mrc: voxel \(z, y, x\) = \(11, 2, 8\) is "):
        require_finite(block, "t.mrc", (10, 0, 5))


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_a_memory_map_is_named_by_its_file_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mrc_writer: Callable[..., Path]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = np.ones((3, 4, 4), np.float32)
    data[2, 0, 1] = np.nan
    volume = open_volume(mrc_writer(tmp_path / "maps" / "t.mrc", data))
    assert volume_name(volume) == str(Path("maps", "t.mrc"))
    assert volume_name(np.zeros(3)) == "the volume"
    with pytest.raises(InputError, match=r"^maps/t\.mrc: voxel \(z, y, x\) = \(2, 0, 1\) is nan"):
        require_finite(np.asarray(volume), volume)


def _with_nan_at(shape: tuple[int, int, int], zyx: tuple[int, int, int]) -> np.ndarray:
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    data[zyx] = np.nan
    return data


OPTICS = dict(
    pixel_size_angstrom=10.0,
    voltage_kv=300.0,
    cs_mm=2.7,
    amplitude_contrast=0.1,
    snrfalloff=0.0,
    deconvstrength=1.0,
    highpassnyquist=0.02,
)


def test_every_whole_volume_reader_refuses_a_bad_voxel() -> None:
    """Normalisation statistics (central 60 slices), deconv (its rescaling pass, or the copy
    when there is no CTF) and make_mask's binning each read their voxels once; a NaN among them
    is an error, not a NaN result."""
    volume = _with_nan_at((80, 16, 16), (50, 3, 4))
    readers = [
        central_slab_stats,
        mean_std,
        lambda v: make_mask(v, patch_size=2, density_percentage=50, std_percentage=50, z_crop=0),
        lambda v: deconvolve(v, **OPTICS, defocus_angstrom=0.0),  # no CTF: a checked copy
        lambda v: deconvolve(v, **OPTICS, defocus_angstrom=30000.0),
    ]
    for reader in readers:
        with pytest.raises(InputError, match=r"voxel \(z, y, x\) = \(50, 3, 4\) is nan"):
            reader(volume)
    # outside the central slab (slices 10..69 of 80) the statistics never read it
    assert np.isfinite(central_slab_stats(_with_nan_at((80, 16, 16), (75, 3, 4)))).all()
