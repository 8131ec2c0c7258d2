"""Versioned, self-describing network checkpoints: atomic save, weights-only load, migration.

Example:
    from isonet2.io.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(
        "out/network_isonet2-n2n_unet-medium_96_full.pt",
        model_state=model.state_dict(), arch="unet-medium",
        arch_kwargs={"channels": [32, 64, 128, 256, 320]}, cube_size=96,
        method="isonet2-n2n", physics={"CTF_mode": "None"},
        normalisation={"policy": "central-60-slices"}, config=cfg.model_dump(mode="json"),
        epoch=10,
    )
    ckpt = load_checkpoint("out/network_isonet2-n2n_unet-medium_96_full.pt")

A checkpoint is a plain dict saved with `torch.save`; everything in it loads under
`torch.load(weights_only=True)`: dicts, lists, tuples, str, int, float, bool, None and
tensors. Keys (format 1): format_version, isonet2_version, saved_at (ISO 8601, UTC), arch,
arch_kwargs, cube_size, method, physics, normalisation, config, epoch, model_state
(unwrapped: no DDP `module.` or torch.compile `_orig_mod.` prefixes), optimizer_state,
scheduler_state, scaler_state, metrics (the last four may be None). Optional: training_state,
the raw weights training continues from when model_state holds their moving average.

Loading refuses (InputError naming the file) a checkpoint whose fields have the wrong types
(cube_size a positive multiple of 16; arch_kwargs, physics, normalisation and config dicts;
model_state a dict of tensors) or whose weights hold NaN or infinite values.
"""

import datetime
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from isonet2 import __version__
from isonet2.config.base import CUBE_MULTIPLE
from isonet2.errors import InputError
from isonet2.io.atomic import publish, temp_beside

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
REQUIRED_KEYS = frozenset(
    {
        "format_version", "isonet2_version", "saved_at", "arch", "arch_kwargs", "cube_size",
        "method", "physics", "normalisation", "config", "epoch", "model_state",
        "optimizer_state", "scheduler_state", "scaler_state", "metrics",
    }
)  # fmt: skip
_DICT_FIELDS = ("arch_kwargs", "physics", "normalisation", "config")
_OPTIONAL_DICT_FIELDS = ("optimizer_state", "scheduler_state", "scaler_state", "metrics")
_WEIGHT_FIELDS = ("model_state", "training_state")
_PLAIN_LEAVES = (str, int, float, bool, type(None))
_PLAIN_CONTAINERS = (dict, OrderedDict, list, tuple)


def unwrap_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the `module.` (DDP) and `_orig_mod.` (torch.compile) prefixes from every key."""
    unwrapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        unwrapped[key] = value
    return unwrapped


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError if `value` holds anything `torch.load(weights_only=True)` refuses."""
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN_LEAVES:
        return
    if type(value) not in _PLAIN_CONTAINERS:
        raise TypeError(
            f"checkpoint field {where} is a {type(value).__name__}; store only dicts, lists, "
            "str, int, float, bool, None and tensors (e.g. cfg.model_dump(mode='json'))"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, f"{where} key {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
    else:
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model_state: Mapping[str, torch.Tensor],
    arch: str,
    arch_kwargs: Mapping[str, Any],
    cube_size: int,
    method: str,
    physics: Mapping[str, Any],
    normalisation: Mapping[str, Any],
    config: Mapping[str, Any],
    epoch: int,
    optimizer_state: Mapping[str, Any] | None = None,
    scheduler_state: Mapping[str, Any] | None = None,
    scaler_state: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    training_state: Mapping[str, torch.Tensor] | None = None,
    y_half: str | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, then os.replace).

    An existing file at `path` stays untouched unless the new one was written completely;
    the temp file is removed if anything fails. Returns `path` as a Path.

    Raises:
        TypeError: a field holds something other than plain dicts/lists/scalars/tensors.
    """
    path = Path(path)
    ckpt: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "isonet2_version": __version__,
        "saved_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "arch": arch,
        "arch_kwargs": dict(arch_kwargs),
        "cube_size": cube_size,
        "method": method,
        "physics": dict(physics),
        "normalisation": dict(normalisation),
        "config": dict(config),
        "epoch": epoch,
        "model_state": unwrap_state_dict(model_state),
        "optimizer_state": None if optimizer_state is None else dict(optimizer_state),
        "scheduler_state": None if scheduler_state is None else dict(scheduler_state),
        "scaler_state": None if scaler_state is None else dict(scaler_state),
        "metrics": None if metrics is None else dict(metrics),
    }
    if training_state is not None:
        ckpt["training_state"] = unwrap_state_dict(training_state)
    if y_half is not None:  # split_halves: the Y half of the tomograms it trained on
        ckpt["y_half"] = y_half
    for key, value in ckpt.items():
        _check_plain(value, key)

    temp = temp_beside(path)
    try:
        with temp.open("wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        publish(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    logger.info("saved checkpoint %s (epoch %d)", path, epoch)
    return path


def migrate(ckpt: dict[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """Bring a loaded checkpoint dict to FORMAT_VERSION and check that it is complete.

    Format 1 is the first format, so today this only validates. When the format changes,
    bump FORMAT_VERSION and rewrite older dicts here, one version step at a time.

    Args:
        ckpt: the dict `torch.load` returned.
        source: how to name the checkpoint in error messages (its path).

    Raises:
        InputError: no format_version, a version newer than this isonet2 reads, keys
            missing, fields of the wrong type, or weights that are not finite.
    """
    version = ckpt.get("format_version")
    if type(version) is not int or version < 1:
        raise InputError(f"{source} is not an isonet2 checkpoint (it has no format_version)")
    if version > FORMAT_VERSION:
        raise InputError(
            f"{source} has checkpoint format {version}, newer than this isonet2 "
            f"{__version__} reads (up to {FORMAT_VERSION}); upgrade isonet2"
        )
    missing = REQUIRED_KEYS - ckpt.keys()
    if missing:
        raise InputError(
            f"{source} is a damaged isonet2 checkpoint: missing {', '.join(sorted(missing))}"
        )
    _check_fields(ckpt, source)
    _check_finite_weights(ckpt, source)
    return ckpt


def _check_fields(ckpt: dict[str, Any], source: str) -> None:
    """InputError naming the first field whose type no isonet2 ever saved there."""
    wrong = _wrong_field(ckpt)
    if wrong:
        raise InputError(f"{source} is a damaged isonet2 checkpoint: {wrong}; use another one")


def _wrong_field(ckpt: dict[str, Any]) -> str | None:
    """What is wrong with the first badly typed field, or None when every field is fine."""
    for key in ("arch", "method"):
        if not isinstance(ckpt[key], str):
            return f"{key} is {ckpt[key]!r}, not a name"
    cube = ckpt["cube_size"]
    if type(cube) is not int or cube < 1 or cube % CUBE_MULTIPLE:
        return f"cube_size is {cube!r}, not a positive multiple of {CUBE_MULTIPLE}"
    if type(ckpt["epoch"]) is not int or ckpt["epoch"] < 0:
        return f"epoch is {ckpt['epoch']!r}, not a count"
    for key in _DICT_FIELDS:
        if not isinstance(ckpt[key], dict):
            return f"{key} is a {type(ckpt[key]).__name__}, not a dict"
    for key in _OPTIONAL_DICT_FIELDS:
        if ckpt[key] is not None and not isinstance(ckpt[key], dict):
            return f"{key} is a {type(ckpt[key]).__name__}, not a dict or None"
    for key in _WEIGHT_FIELDS:
        state = ckpt.get(key)
        if key == "training_state" and state is None:
            continue
        if not isinstance(state, dict) or not all(
            isinstance(name, str) and isinstance(value, torch.Tensor)
            for name, value in state.items()
        ):
            return f"{key} is not a dict of named tensors"
    return None


def _check_finite_weights(ckpt: dict[str, Any], source: str) -> None:
    """InputError naming the first weight tensor that holds NaN or inf."""
    for key in _WEIGHT_FIELDS:
        for name, tensor in (ckpt.get(key) or {}).items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise InputError(
                    f"{source}: the network weights hold NaN or infinite values (tensor {name}); "
                    "the training diverged — use an earlier checkpoint"
                )


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    """Whether the file starts with the HDF5 signature (IsoNet 1 saved Keras models so)."""
    try:
        with path.open("rb") as f:
            return f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    except OSError:
        return False


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint onto the CPU with `torch.load(weights_only=True)`, then `migrate` it.

    Raises:
        InputError: the file is missing or unreadable, or is not an isonet2 checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the checkpoint ({exc.strerror})") from exc
    except Exception as exc:  # any decoding failure means the bytes are not a checkpoint
        if _is_hdf5(path):
            raise InputError(
                f"{path} is not an isonet2 checkpoint but an HDF5 file (the .h5 model format of "
                "IsoNet 1); give the .pt file that isonet2's refine or denoise wrote, e.g. "
                "01_test/network_isonet2-n2n_unet-medium_96_full.pt"
            ) from exc
        raise InputError(
            f"{path} is not an isonet2 checkpoint (torch cannot load it: {type(exc).__name__}); "
            "give the .pt file that refine or denoise wrote"
        ) from exc
    if not isinstance(obj, dict):
        raise InputError(
            f"{path} is not an isonet2 checkpoint (it holds a {type(obj).__name__}, not a dict)"
        )
    return migrate(obj, source=str(path))
