"""Architecture registry: arch name -> (constructor, kwargs), and models rebuilt from checkpoints.

Example:
    from isonet2.nn.registry import architecture_kwargs, build_model, check_cube_size

    check_cube_size("unet-medium", 96)
    net = build_model("unet-medium")            # the published unet-medium
    kwargs = architecture_kwargs("unet-medium")  # what a checkpoint stores beside the weights

A checkpoint stores the arch name and the full kwargs, so `model_from_checkpoint` rebuilds
the exact network even if the defaults below change later. Kwargs the constructor refuses, or
weights that do not fit the network (a missing key, a wrong shape), are an InputError.
"""

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from isonet2.config.base import CUBE_MULTIPLE
from isonet2.errors import InputError
from isonet2.nn.unet import UNet3d

logger = logging.getLogger(__name__)

ARCHITECTURES: dict[str, tuple[Callable[..., nn.Module], dict[str, Any]]] = {
    "unet-small": (UNet3d, {"channels": [16, 32, 64, 128, 256]}),
    "unet-medium": (UNet3d, {"channels": [32, 64, 128, 256, 320]}),
    "unet-large": (UNet3d, {"channels": [64, 128, 256, 320, 320]}),
}

# The U-Nets halve the cube four times (CUBE_MULTIPLE) and need at least 2 voxels at the
# bottleneck.
MIN_CUBE_SIZE = 32


def available_architectures() -> list[str]:
    """Names accepted by `build_model`, in registry order."""
    return list(ARCHITECTURES)


def _lookup(arch: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise InputError(
            f"unknown arch {arch!r}; choose one of: {', '.join(available_architectures())}"
        ) from None


def architecture_kwargs(arch: str, **overrides: Any) -> dict[str, Any]:
    """The full constructor kwargs of `arch` with `overrides` applied (a fresh plain dict)."""
    _, defaults = _lookup(arch)
    return {**copy.deepcopy(defaults), **overrides}


def build_model(arch: str, **overrides: Any) -> nn.Module:
    """A freshly initialised network of architecture `arch` (kwargs `overrides` win).

    The model maps (b, 1, z, y, x) -> (b, 1, z, y, x); see `check_cube_size` for z, y, x.
    """
    constructor, _ = _lookup(arch)
    return constructor(**architecture_kwargs(arch, **overrides))


def check_cube_size(arch: str, cube_size: int) -> None:
    """Raise InputError unless `cube_size` suits `arch` (a multiple of 16, at least 32)."""
    _lookup(arch)
    if cube_size < MIN_CUBE_SIZE or cube_size % CUBE_MULTIPLE:
        raise InputError(
            f"cube_size {cube_size} does not suit {arch}: it must be a multiple of "
            f"{CUBE_MULTIPLE} and at least {MIN_CUBE_SIZE} (e.g. 64, 96, 128)"
        )


def model_from_checkpoint(ckpt: Mapping[str, Any], source: str | None = None) -> nn.Module:
    """Rebuild the network a checkpoint describes and load its weights (left in train mode).

    Args:
        ckpt: a dict from `isonet2.io.checkpoint.load_checkpoint` (keys used: "arch",
            "arch_kwargs", "model_state").
        source: the checkpoint's path, named at the start of error messages.

    Raises:
        InputError: an unknown arch, kwargs its constructor refuses, or weights that do not
            fit the network.
    """
    arch = ckpt["arch"]
    constructor, _ = _lookup(arch)
    try:
        model = constructor(**ckpt["arch_kwargs"])
    except (TypeError, ValueError, RuntimeError) as error:
        raise _misfit(arch, error, source) from None
    load_weights(model, ckpt["model_state"], arch, source)
    logger.debug("rebuilt %s from checkpoint (epoch %s)", arch, ckpt.get("epoch"))
    return model


def load_weights(
    model: nn.Module, state: Mapping[str, torch.Tensor], arch: str, source: str | None = None
) -> None:
    """`model.load_state_dict(state)`, strict; weights that do not fit are an InputError.

    `arch` names the network and `source` (the checkpoint's path) starts the message.
    """
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as error:
        raise _misfit(arch, error, source) from None


def _misfit(arch: str, error: Exception, source: str | None) -> InputError:
    """One line: which checkpoint does not fit which architecture, and torch's reason."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if len(reason) > 300:
        reason = reason[:297] + "..."
    prefix = f"{source}: " if source else ""
    return InputError(f"{prefix}checkpoint does not fit architecture {arch}: {reason}")
