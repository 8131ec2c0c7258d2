"""Which device to compute on: the user's --gpuID against what this machine has.

Example:
    device = select_device("0")      # cuda:0, or the CPU with a warning on a GPU-less machine

CUDA_VISIBLE_DEVICES is respected: IDs are indices among the visible GPUs.
"""

from __future__ import annotations

import logging

import torch

from isonet2.errors import InputError

logger = logging.getLogger(__name__)


def parse_gpu_ids(text: str | None) -> list[int] | None:
    """ "0,1" -> [0, 1]; None/"" -> None (all visible). A non-number or a GPU named twice is
    an InputError."""
    if text is None or not str(text).strip():
        return None
    try:
        ids = [int(part) for part in str(text).strip("[]() ").split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--gpuID '{text}': expected GPU numbers such as 0 or 0,1") from None
    twice = [i for n, i in enumerate(ids) if i in ids[:n]]
    if twice:  # two workers on one GPU: NCCL stopped them with a dozen lines of its own
        raise InputError(f"--gpuID {text}: GPU {twice[0]} is named twice; name each GPU once")
    return ids


def select_devices(gpu_ids: str | None) -> list[torch.device]:
    """The devices to use; the CPU (one) when the machine has no GPU at all."""
    wanted = parse_gpu_ids(gpu_ids)
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available == 0:
        if wanted is not None:
            logger.warning(
                "\n*** WARNING: --gpuID %s asked for a GPU but this machine has none; running "
                "on the CPU, which is much slower. ***\n",
                gpu_ids,
            )
        return [torch.device("cpu")]
    if wanted is None:
        wanted = list(range(available))
    missing = [i for i in wanted if i < 0 or i >= available]
    if missing:
        raise InputError(
            f"--gpuID {gpu_ids}: GPU {missing[0]} does not exist; this machine shows "
            f"{available} GPU(s): {', '.join(str(i) for i in range(available))} "
            "(indices follow CUDA_VISIBLE_DEVICES)"
        )
    return [torch.device("cuda", i) for i in wanted]


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16; None (no autocast) on the CPU or when off."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
