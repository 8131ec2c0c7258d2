"""CPU and CUDA build the same filters and filter alike."""

import pytest
import torch

from isonet2.fourier.ctf import ctf_3d, wiener_filter_3d
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.rotations import random_rotation_matrices, rotate_volume
from isonet2.fourier.wedge import missing_wedge_mask

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

SHAPE = (32, 32, 32)


def test_filters_match_between_cpu_and_cuda() -> None:
    for rfft in (False, True):
        cpu = ctf_3d(
            SHAPE,
            5.4,
            30000.0,
            300.0,
            2.7,
            0.1,
            clip_first_peak_mode=2,
            bfactor_angstrom2=250.0,
            rfft=rfft,
        )
        gpu = ctf_3d(
            SHAPE,
            5.4,
            30000.0,
            300.0,
            2.7,
            0.1,
            clip_first_peak_mode=2,
            bfactor_angstrom2=250.0,
            rfft=rfft,
            device="cuda",
        )
        assert torch.allclose(gpu.cpu(), cpu, atol=1e-6)
        wiener = (SHAPE, 5.4, 30000.0, 300.0, 2.7, 0.1, 1.0, 1.0, 0.02)
        assert torch.allclose(
            wiener_filter_3d(*wiener, rfft=rfft, device="cuda").cpu(),
            wiener_filter_3d(*wiener, rfft=rfft),
            rtol=1e-5,
            atol=1e-6,
        )
        mask = missing_wedge_mask(SHAPE, -50.0, 65.0, rfft=rfft)
        assert torch.equal(
            missing_wedge_mask(SHAPE, -50.0, 65.0, rfft=rfft, device="cuda").cpu(), mask
        )


def test_filtering_and_rotation_match_between_cpu_and_cuda() -> None:
    batch = torch.randn(2, 1, *SHAPE, generator=torch.Generator().manual_seed(0))
    mask = missing_wedge_mask(SHAPE, -60.0, 60.0, rfft=True)
    cpu = apply_fourier_filter(batch, mask)
    gpu = apply_fourier_filter(batch.cuda(), mask.cuda())
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)
    mats = random_rotation_matrices(2, torch.Generator().manual_seed(1))
    gpu_mats = random_rotation_matrices(2, torch.Generator().manual_seed(1), device="cuda")
    assert torch.equal(gpu_mats.cpu(), mats)
    assert torch.allclose(
        rotate_volume(batch.cuda(), gpu_mats).cpu(), rotate_volume(batch, mats), atol=1e-4
    )
