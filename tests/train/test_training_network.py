"""How training builds its network for one or several workers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from isonet2.train.trainer import training_network


def norm_layers(net: nn.Module) -> set[type]:
    return {type(m) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def test_several_cpu_workers_keep_plain_batchnorm() -> None:
    assert norm_layers(training_network("unet-small", torch.device("cpu"), 2)) == {nn.BatchNorm3d}


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 1, reason="needs a CUDA GPU")
def test_several_gpus_normalise_per_gpu_unless_asked_to_sync() -> None:
    cuda = torch.device("cuda", 0)
    assert norm_layers(training_network("unet-small", cuda, 2)) == {nn.BatchNorm3d}
    synced = training_network("unet-small", cuda, 2, sync_batchnorm=True)
    assert norm_layers(synced) == {nn.SyncBatchNorm}
