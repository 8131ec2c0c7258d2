"""Gradient accumulation under DDP: only the micro-batch that steps all-reduces gradients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from isonet2.train.trainer import _gradient_sync


@pytest.fixture
def one_rank_group() -> Iterator[None]:
    """A gloo process group of this process alone (world size 1), destroyed afterwards."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_ddp_syncs_on_the_stepping_micro_batch_only(one_rank_group: None) -> None:
    model = DistributedDataParallel(torch.nn.Linear(3, 1))
    with _gradient_sync(model, steps_now=False):
        assert not model.require_backward_grad_sync  # inside DDP's no_sync()
    assert model.require_backward_grad_sync
    with _gradient_sync(model, steps_now=True):
        assert model.require_backward_grad_sync


def test_a_single_process_model_has_nothing_to_sync() -> None:
    with _gradient_sync(torch.nn.Linear(3, 1), steps_now=False) as context:
        assert context is None  # contextlib.nullcontext
