"""An exponential moving average (EMA) of a network's weights, kept beside the trained one.

Example:
    average = WeightAverage(net, decay=0.998)
    for step in ...:
        optimizer.step()
        average.update(net)
    predictions = average.network(x)         # the averaged network, in eval mode

After n updates the average is w <- d_n·w + (1 - d_n)·w_net with d_n = min(decay,
(1 + n)/(10 + n)): early updates follow the network closely, so the untrained initial weights
fade within the first few dozen steps instead of lingering for 1/(1 - decay) of them. Floating
buffers (BatchNorm's running mean and variance) are averaged the same way; integer buffers
(BatchNorm's batch counter) are copied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

WARMUP_OFFSET = 10  # d_n = (1 + n) / (WARMUP_OFFSET + n) while that is below decay


def averaging_decay(decay: float, updates_done: int) -> float:
    """The decay of update number `updates_done` (0-based): min(decay, (1+n)/(10+n))."""
    return min(decay, (1.0 + updates_done) / (WARMUP_OFFSET + updates_done))


class WeightAverage:
    """The EMA copy of a network; `network` is that copy (eval mode, no gradients).

    Args:
        net: the network being trained (unwrapped: no DDP or torch.compile wrapper).
        decay: the decay once warmed up, in [0, 1); 0.998 weights roughly the last 500 steps.
        updates_done: how many updates the average has already had (when resuming).
    """

    def __init__(self, net: nn.Module, decay: float, updates_done: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"the averaging decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates_done = updates_done
        self.network = copy.deepcopy(net).eval()
        self.network.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """Move the average towards `net`'s current weights and buffers by one step."""
        keep = averaging_decay(self.decay, self.updates_done)
        mine = self.network.state_dict()
        theirs = net.state_dict()
        floats = [k for k, v in mine.items() if v.is_floating_point()]
        torch._foreach_lerp_([mine[k] for k in floats], [theirs[k] for k in floats], 1.0 - keep)
        for key, value in mine.items():
            if not value.is_floating_point():
                value.copy_(theirs[key])
        self.updates_done += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights and buffers, as the network's own state dict."""
        return self.network.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Take averaged weights saved earlier (e.g. from a checkpoint's model_state)."""
        self.network.load_state_dict(state)
