"""TargetSettings: names validated with one-line errors listing the valid ones; torch-free."""

import subprocess
import sys

import pytest

from isonet2.errors import InputError
from isonet2.targets.settings import CTF_MODES, METHODS, NOISE_MODES, TargetSettings


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("ctf_mode", "phase", CTF_MODES),
        ("method", "n2v", METHODS),
        ("noise_mode", "pink", NOISE_MODES),
    ],
)
def test_unknown_name_lists_valid_ones(field: str, value: str, valid: tuple[str, ...]) -> None:
    with pytest.raises(InputError) as err:
        TargetSettings(**{field: value})  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    assert value in message
    assert all(repr(name) in message for name in valid)


@pytest.mark.parametrize(
    "bad",
    [
        {"clip_first_peak_mode": 4},
        {"random_rot_weight": 1.5},
        {"noise_level": -0.1},
        {"mw_weight": float("nan")},
        {"bfactor_angstrom2": -1.0},
    ],
)
def test_bad_values_raise_input_error(bad: dict[str, float]) -> None:
    with pytest.raises(InputError):
        TargetSettings(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ctf_mode", "do_flip", "is_flipped", "flips", "flipped"),
    [
        ("None", True, False, False, False),
        ("None", True, True, False, False),
        ("phase_only", True, False, True, True),
        ("network", True, True, False, True),
        ("wiener", False, False, False, False),
        ("network", False, True, False, True),
    ],
)
def test_phase_flip_properties(
    ctf_mode: str, do_flip: bool, is_flipped: bool, flips: bool, flipped: bool
) -> None:
    settings = TargetSettings(
        ctf_mode=ctf_mode,  # type: ignore[arg-type]
        do_phaseflip_input=do_flip,
        is_ctf_flipped=is_flipped,
    )
    assert settings.flips_inputs is flips
    assert settings.inputs_phase_flipped is flipped


def test_settings_module_does_not_import_torch() -> None:
    code = "import sys, isonet2.targets.settings; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
