"""Checkpoints: self-describing round trips, atomic writes, and refusing files that are not ours."""

import os
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import torch

from isonet2.errors import InputError
from isonet2.io import checkpoint
from isonet2.io.checkpoint import (
    FORMAT_VERSION,
    REQUIRED_KEYS,
    load_checkpoint,
    migrate,
    save_checkpoint,
    unwrap_state_dict,
)


def _fields(model: torch.nn.Module, **changes: Any) -> dict[str, Any]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=1e-6)
    fields: dict[str, Any] = {
        "model_state": model.state_dict(),
        "arch": "unet-small",
        "arch_kwargs": {"channels": [16, 32, 64, 128, 256]},
        "cube_size": 96,
        "method": "isonet2-n2n",
        "physics": {"CTF_mode": "network", "bfactor_angstrom2": 250.0, "tilt_range": (-60, 60)},
        "normalisation": {"policy": "central-60-slices", "contrast_inverted": True},
        "config": {"epochs": 50, "gpuID": None, "input": "tomograms.star", "nested": {"a": [1]}},
        "epoch": 7,
        "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(),
        "scaler_state": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 3},
        "metrics": {"loss": [0.5, 0.4], "n2n": [0.3, 0.2], "mw": [0.2, 0.2]},
    }
    fields.update(changes)
    return fields


def _linear() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    model = _linear()
    fields = _fields(model)
    path = tmp_path / "net.pt"
    assert save_checkpoint(path, **fields) == path
    ckpt = load_checkpoint(path)
    assert ckpt.keys() == REQUIRED_KEYS
    assert ckpt["format_version"] == FORMAT_VERSION
    assert isinstance(ckpt["isonet2_version"], str)
    assert isinstance(ckpt["saved_at"], str)
    for key in ("arch", "arch_kwargs", "cube_size", "method", "physics", "normalisation"):
        assert ckpt[key] == fields[key]
    assert ckpt["config"] == fields["config"]
    assert ckpt["epoch"] == 7
    assert ckpt["metrics"] == fields["metrics"]
    assert ckpt["scaler_state"] == fields["scaler_state"]
    assert ckpt["scheduler_state"] == fields["scheduler_state"]
    for key, value in model.state_dict().items():
        assert torch.equal(ckpt["model_state"][key], value)
    optimizer = torch.optim.AdamW(_linear().parameters(), lr=1.0)
    optimizer.load_state_dict(ckpt["optimizer_state"])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)


def test_optional_states_may_be_none(tmp_path: Path) -> None:
    fields = _fields(_linear(), optimizer_state=None, scheduler_state=None, scaler_state=None)
    fields["metrics"] = None
    save_checkpoint(tmp_path / "net.pt", **fields)
    ckpt = load_checkpoint(tmp_path / "net.pt")
    assert ckpt["optimizer_state"] is None
    assert ckpt["metrics"] is None


@pytest.mark.parametrize(
    "prefix", ["module.", "_orig_mod.", "module._orig_mod.", "_orig_mod.module."]
)
def test_wrapper_prefixes_stripped(tmp_path: Path, prefix: str) -> None:
    state = {prefix + key: value for key, value in _linear().state_dict().items()}
    save_checkpoint(tmp_path / "net.pt", **_fields(_linear(), model_state=state))
    assert set(load_checkpoint(tmp_path / "net.pt")["model_state"]) == {"weight", "bias"}


def test_unwrap_keeps_inner_names() -> None:
    tensor = torch.zeros(1)
    state = {"module.encoder.0.module_like.weight": tensor}
    assert list(unwrap_state_dict(state)) == ["encoder.0.module_like.weight"]


def test_save_leaves_no_temp_file_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    save_checkpoint(path, **_fields(_linear(), epoch=1))
    save_checkpoint(path, **_fields(_linear(), epoch=2))
    assert os.listdir(tmp_path) == ["net.pt"]
    assert load_checkpoint(path)["epoch"] == 2


def test_failed_save_keeps_the_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.pt"
    save_checkpoint(path, **_fields(_linear(), epoch=1))
    good = path.read_bytes()

    def broken_save(obj: object, f: Any) -> None:
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, **_fields(_linear(), epoch=2))
    assert os.listdir(tmp_path) == ["net.pt"]
    assert path.read_bytes() == good


@pytest.mark.parametrize(
    ("field", "value"),
    [("config", {"output_dir": Path("out")}), ("metrics", {"loss": np.float32(0.1)})],
)
def test_non_plain_values_refused_before_writing(tmp_path: Path, field: str, value: Any) -> None:
    with pytest.raises(TypeError, match=rf"checkpoint field {field}\["):
        save_checkpoint(tmp_path / "net.pt", **_fields(_linear(), **{field: value}))
    assert os.listdir(tmp_path) == []


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _text(path: Path) -> None:
    path.write_text("this is a text file\nnot a network\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _mrc(path: Path) -> None:
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((4, 4, 4), np.float32))


def _torch_without_version(path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, path)


def _torch_tensor(path: Path) -> None:
    torch.save(torch.zeros(3), path)


def _torch_with_objects(path: Path) -> None:
    torch.save({"format_version": 1, "path": Path("x")}, path)


def _truncated_checkpoint(path: Path) -> None:
    save_checkpoint(path, **_fields(_linear()))
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    "make",
    [
        _random_bytes,
        _text,
        _empty,
        _mrc,
        _torch_without_version,
        _torch_tensor,
        _torch_with_objects,
        _truncated_checkpoint,
    ],
)
def test_not_a_checkpoint(tmp_path: Path, make: Any) -> None:
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(InputError, match="is not an isonet2 checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_an_hdf5_model_is_named_as_such(tmp_path: Path) -> None:
    """IsoNet 1 saved Keras .h5 models; the tutorial's placeholder is <model_file.h5>."""
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(504))
    with pytest.raises(InputError, match="is not an isonet2 checkpoint but an HDF5 file") as info:
        load_checkpoint(path)
    assert "the .pt file that isonet2's refine or denoise wrote" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_newer_format_asks_for_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    save_checkpoint(path, **_fields(_linear()))
    ckpt = torch.load(path, weights_only=True)
    ckpt["format_version"] = FORMAT_VERSION + 1
    torch.save(ckpt, path)
    with pytest.raises(InputError, match="upgrade isonet2"):
        load_checkpoint(path)


def test_missing_keys_reported() -> None:
    with pytest.raises(InputError, match="damaged isonet2 checkpoint: missing arch, epoch"):
        migrate({key: None for key in REQUIRED_KEYS - {"arch", "epoch"}} | {"format_version": 1})


def _saved_with(path: Path, **changes: Any) -> None:
    """A good checkpoint at `path`, then fields replaced behind save_checkpoint's back."""
    save_checkpoint(path, **_fields(_linear()))
    ckpt = torch.load(path, weights_only=True)
    ckpt.update(changes)
    torch.save(ckpt, path)


@pytest.mark.parametrize(
    ("changes", "wrong"),
    [
        ({"cube_size": 0}, "cube_size is 0, not a positive multiple of 16"),
        ({"cube_size": 17}, "cube_size is 17, not a positive multiple of 16"),
        ({"cube_size": -32}, "cube_size is -32"),
        ({"cube_size": "abc"}, "cube_size is 'abc'"),
        ({"cube_size": 96.0}, "cube_size is 96.0"),
        ({"cube_size": True}, "cube_size is True"),
        ({"physics": None}, "physics is a NoneType, not a dict"),
        ({"arch_kwargs": [16, 32]}, "arch_kwargs is a list, not a dict"),
        ({"normalisation": "central"}, "normalisation is a str, not a dict"),
        ({"arch": None}, "arch is None, not a name"),
        ({"epoch": "7"}, "epoch is '7', not a count"),
        ({"metrics": [0.1]}, "metrics is a list, not a dict or None"),
        ({"model_state": None}, "model_state is not a dict of named tensors"),
        ({"model_state": {"weight": [1.0]}}, "model_state is not a dict of named tensors"),
        ({"training_state": {"weight": 1.0}}, "training_state is not a dict of named tensors"),
    ],
)
def test_fields_of_the_wrong_type_refused(
    tmp_path: Path, changes: dict[str, Any], wrong: str
) -> None:
    path = tmp_path / "net.pt"
    _saved_with(path, **changes)
    with pytest.raises(InputError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path} is a damaged isonet2 checkpoint: {wrong}")
    assert "\n" not in message


@pytest.mark.parametrize("field", ["model_state", "training_state"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_refused(tmp_path: Path, field: str, bad: float) -> None:
    state = _linear().state_dict()
    state["bias"][1] = bad
    path = tmp_path / "diverged.pt"
    save_checkpoint(path, **_fields(_linear(), **{field: state}))
    with pytest.raises(InputError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"{path}: the network weights hold NaN or infinite values (tensor bias); the training "
        "diverged — use an earlier checkpoint"
    )


def test_integer_buffers_and_empty_optional_states_load(tmp_path: Path) -> None:
    state = {**_linear().state_dict(), "bn.num_batches_tracked": torch.tensor(3)}
    save_checkpoint(tmp_path / "net.pt", **_fields(_linear(), model_state=state))
    assert load_checkpoint(tmp_path / "net.pt")["model_state"]["bn.num_batches_tracked"] == 3
