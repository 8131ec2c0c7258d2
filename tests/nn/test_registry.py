"""The architecture registry and rebuilding networks from checkpoints."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import isonet2
from isonet2.errors import InputError
from isonet2.io.checkpoint import load_checkpoint, save_checkpoint
from isonet2.nn.registry import (
    architecture_kwargs,
    available_architectures,
    build_model,
    check_cube_size,
    load_weights,
    model_from_checkpoint,
)
from isonet2.nn.unet import UNet3d

TINY = {"channels": [4, 8, 8, 8, 8]}


def test_available_architectures() -> None:
    assert available_architectures() == ["unet-small", "unet-medium", "unet-large"]


def test_unknown_arch_lists_valid_names() -> None:
    with pytest.raises(InputError, match="unet-small, unet-medium, unet-large") as info:
        build_model("unet-huge")
    assert "'unet-huge'" in str(info.value)
    assert "\n" not in str(info.value)


def test_overrides_win_and_defaults_are_not_shared() -> None:
    model = build_model("unet-small", **TINY)
    assert isinstance(model, UNet3d)
    assert model.head.in_channels == 4
    kwargs = architecture_kwargs("unet-small")
    kwargs["channels"].append(1)
    assert architecture_kwargs("unet-small") == {"channels": [16, 32, 64, 128, 256]}


@pytest.mark.parametrize("cube_size", [32, 48, 64, 96, 128])
def test_cube_size_accepted(cube_size: int) -> None:
    check_cube_size("unet-medium", cube_size)


@pytest.mark.parametrize("cube_size", [0, 16, 40, 100, -32])
def test_cube_size_rejected(cube_size: int) -> None:
    with pytest.raises(InputError, match=rf"cube_size {cube_size} .*multiple of 16.*at least 32"):
        check_cube_size("unet-medium", cube_size)


def test_cube_size_unknown_arch() -> None:
    with pytest.raises(InputError, match="choose one of"):
        check_cube_size("resnet", 96)


def _save_tiny(path: Path, model: torch.nn.Module) -> None:
    save_checkpoint(
        path,
        model_state=model.state_dict(),
        arch="unet-small",
        arch_kwargs=architecture_kwargs("unet-small", **TINY),
        cube_size=32,
        method="isonet2-n2n",
        physics={"CTF_mode": "None"},
        normalisation={"policy": "central-60-slices"},
        config={"arch": "unet-small"},
        epoch=1,
    )


def _trained_tiny() -> torch.nn.Module:
    """A tiny net whose BatchNorm running statistics are no longer the defaults."""
    torch.manual_seed(0)
    model = build_model("unet-small", **TINY)
    with torch.no_grad():
        model(torch.randn(2, 1, 32, 32, 32) * 3 + 1)
    return model.eval()


def test_checkpoint_round_trip_is_bit_identical(tmp_path: Path) -> None:
    model = _trained_tiny()
    path = tmp_path / "net.pt"
    _save_tiny(path, model)
    rebuilt = model_from_checkpoint(load_checkpoint(path)).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_round_trip_through_compiled_wrapper(tmp_path: Path) -> None:
    model = _trained_tiny()
    path = tmp_path / "net.pt"
    _save_tiny(path, torch.compile(model, backend="eager"))
    ckpt = load_checkpoint(path)
    assert not any(k.startswith("_orig_mod.") for k in ckpt["model_state"])
    rebuilt = model_from_checkpoint(ckpt).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_loading_needs_nothing_but_the_file(tmp_path: Path) -> None:
    model = _trained_tiny()
    path = tmp_path / "net.pt"
    _save_tiny(path, model)
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        torch.save(model(x), tmp_path / "expected.pt")
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys, torch\n"
        "from isonet2.io.checkpoint import load_checkpoint\n"
        "from isonet2.nn.registry import model_from_checkpoint\n"
        "d = sys.argv[1]\n"
        "net = model_from_checkpoint(load_checkpoint(d + '/net.pt')).eval()\n"
        "x = torch.load(d + '/x.pt', weights_only=True)\n"
        "expected = torch.load(d + '/expected.pt', weights_only=True)\n"
        "with torch.no_grad():\n"
        "    assert torch.equal(net(x), expected)\n"
    )
    source_root = str(Path(isonet2.__file__).parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source_root, os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(tmp_path)],
        check=True,
        cwd=tmp_path,
        env=env,
    )


def test_checkpoint_with_unknown_arch(tmp_path: Path) -> None:
    model = _trained_tiny()
    path = tmp_path / "net.pt"
    _save_tiny(path, model)
    ckpt = load_checkpoint(path)
    ckpt["arch"] = "swin-tiny"
    with pytest.raises(InputError, match="unknown arch 'swin-tiny'"):
        model_from_checkpoint(ckpt)


def _tiny_checkpoint(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "net.pt"
    _save_tiny(path, _trained_tiny())
    return load_checkpoint(path)


def _drop_head_weight(ckpt: dict[str, Any]) -> None:
    del ckpt["model_state"]["head.weight"]


def _wrong_shape(ckpt: dict[str, Any]) -> None:
    ckpt["model_state"]["head.weight"] = torch.zeros(1, 2, 1, 1, 1)


def _extra_weight(ckpt: dict[str, Any]) -> None:
    ckpt["model_state"]["extra.weight"] = torch.zeros(1)


def _unknown_kwarg(ckpt: dict[str, Any]) -> None:
    ckpt["arch_kwargs"]["width"] = 3


def _channels_of_text(ckpt: dict[str, Any]) -> None:
    ckpt["arch_kwargs"]["channels"] = "abc"


def _other_channels(ckpt: dict[str, Any]) -> None:
    ckpt["arch_kwargs"]["channels"] = [8, 8, 8, 8, 8]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_drop_head_weight, 'Missing key(s) in state_dict: "head.weight"'),
        (_wrong_shape, "size mismatch for head.weight"),
        (_extra_weight, 'Unexpected key(s) in state_dict: "extra.weight"'),
        (_unknown_kwarg, "unexpected keyword argument 'width'"),
        (_channels_of_text, "invalid literal for int()"),
        (_other_channels, "size mismatch"),
    ],
)
def test_checkpoint_that_does_not_fit_is_an_input_error(
    tmp_path: Path, damage: Any, reason: str
) -> None:
    ckpt = _tiny_checkpoint(tmp_path)
    damage(ckpt)
    with pytest.raises(InputError) as info:
        model_from_checkpoint(ckpt)
    message = str(info.value)
    assert message.startswith("checkpoint does not fit architecture unet-small: ")
    assert reason in message and "\n" not in message and len(message) < 400
    with pytest.raises(InputError, match=r"^net\.pt: checkpoint does not fit architecture"):
        model_from_checkpoint(ckpt, source="net.pt")


def test_load_weights_names_the_source(tmp_path: Path) -> None:
    ckpt = _tiny_checkpoint(tmp_path)
    model = build_model("unet-small")  # the default channels, not the tiny ones saved
    with pytest.raises(InputError, match=r"^old\.pt: .* unet-small: .*size mismatch") as info:
        load_weights(model, ckpt["model_state"], "unet-small", source="old.pt")
    assert "\n" not in str(info.value)
