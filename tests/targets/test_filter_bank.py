"""FilterBank: per-tomogram lookup by index, shared entries, the right CTF variant per mode."""

import pytest
import torch
from target_helpers import physics_record, two_tomograms

from isonet2.fourier.ctf import ctf_3d, phase_flip_filter, wiener_filter_3d
from isonet2.fourier.filters import apply_fourier_filter
from isonet2.fourier.wedge import missing_wedge_mask
from isonet2.targets.filters import FilterBank, fill_missing_wedge
from isonet2.targets.settings import TargetSettings

C = 16
SHAPE = (C, C, C)


def test_lookup_returns_each_tomograms_wedge() -> None:
    physics = two_tomograms()
    bank = FilterBank.build(TargetSettings(), physics, C, "cpu")
    got = bank.wedge(torch.tensor([1, 0, 1]))
    assert got.shape == (3, 1, C, C, C // 2 + 1)
    for row, t in enumerate([1, 0, 1]):
        want = missing_wedge_mask(
            SHAPE, physics[t].tilt_min_deg, physics[t].tilt_max_deg, rfft=True
        )
        assert torch.equal(got[row, 0], want)
    centred = bank.wedge_centred(torch.tensor([1]))
    assert torch.equal(centred[0, 0], missing_wedge_mask(SHAPE, -40.0, 55.0))
    assert not torch.equal(got[0], got[1])


def test_identical_physics_share_one_entry() -> None:
    physics = [physics_record(), physics_record(), physics_record(tilt_min_deg=-50.0)]
    bank = FilterBank.build(TargetSettings(ctf_mode="network"), physics, C, "cpu")
    assert bank.wedge.entries.shape[0] == 2
    assert bank.wedge.entry_of_tomogram.tolist() == [0, 0, 1]
    assert bank.output_ctf is not None
    assert bank.output_ctf.entries.shape[0] == 1  # the optics are identical


@pytest.mark.parametrize(
    ("ctf_mode", "roles"),
    [
        ("None", set()),
        ("phase_only", {"input_flip"}),
        ("wiener", {"input_flip", "prediction_ctf", "target_wiener"}),
        ("network", {"input_flip", "prediction_ctf", "output_ctf"}),
    ],
)
def test_roles_per_ctf_mode(ctf_mode: str, roles: set[str]) -> None:
    bank = FilterBank.build(TargetSettings(ctf_mode=ctf_mode), two_tomograms(), C, "cpu")  # type: ignore[arg-type]
    for role in ("input_flip", "prediction_ctf", "output_ctf", "target_wiener"):
        assert (getattr(bank, role) is not None) == (role in roles), role


@pytest.mark.parametrize(("do_flip", "is_flipped"), [(True, False), (False, True), (False, False)])
def test_network_ctf_matches_fourier_ctf(do_flip: bool, is_flipped: bool) -> None:
    physics = two_tomograms()
    settings = TargetSettings(
        ctf_mode="network",
        clip_first_peak_mode=2,
        bfactor_angstrom2=300.0,
        do_phaseflip_input=do_flip,
        is_ctf_flipped=is_flipped,
    )
    bank = FilterBank.build(settings, physics, C, "cpu")
    assert bank.output_ctf is not None
    absolute = do_flip or is_flipped
    for t, p in enumerate(physics):
        want = ctf_3d(
            SHAPE,
            p.pixel_size_angstrom,
            p.defocus_angstrom,
            p.voltage_kv,
            p.cs_mm,
            p.amplitude_contrast,
            clip_first_peak_mode=2,
            bfactor_angstrom2=300.0,
            absolute=absolute,
            rfft=True,
        )
        assert torch.equal(bank.output_ctf(torch.tensor([t]))[0, 0], want)
    assert (bank.output_ctf.entries.min() >= 0).item() is absolute
    assert (bank.input_flip is not None) is (do_flip and not is_flipped)


def test_wiener_mode_filters() -> None:
    physics = two_tomograms()
    settings = TargetSettings(ctf_mode="wiener", clip_first_peak_mode=1, snrfalloff=0.5)
    bank = FilterBank.build(settings, physics, C, "cpu")
    assert bank.target_wiener is not None and bank.prediction_ctf is not None
    assert bank.input_flip is not None
    p = physics[1]
    optics = (
        p.pixel_size_angstrom,
        p.defocus_angstrom,
        p.voltage_kv,
        p.cs_mm,
        p.amplitude_contrast,
    )
    want = wiener_filter_3d(SHAPE, *optics, 0.5, 1.0, 0.02, phase_flipped=True, rfft=True)
    assert torch.equal(bank.target_wiener(torch.tensor([1]))[0, 0], want)
    unclipped = ctf_3d(SHAPE, *optics, absolute=True, rfft=True)  # clipping is network-only
    assert torch.equal(bank.prediction_ctf(torch.tensor([1]))[0, 0], unclipped)
    assert torch.equal(
        bank.input_flip(torch.tensor([1]))[0, 0], phase_flip_filter(SHAPE, *optics, rfft=True)
    )


def test_fill_missing_wedge_combines_the_two_regions() -> None:
    gen = torch.Generator().manual_seed(1)
    prediction, measured = torch.randn(2, 2, 1, C, C, C, generator=gen)
    wedge = missing_wedge_mask(SHAPE, -50.0, 65.0, rfft=True)
    filled = fill_missing_wedge(prediction, measured, wedge)
    want = apply_fourier_filter(prediction, 1.0 - wedge) + apply_fourier_filter(measured, wedge)
    torch.testing.assert_close(filled, want, atol=1e-5, rtol=0)
