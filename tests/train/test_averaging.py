"""The moving average of the weights: its decay schedule, its update rule, its buffers."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from isonet2.train.averaging import WeightAverage, averaging_decay


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.BatchNorm3d(2))


def test_the_decay_warms_up_then_stays_at_its_value() -> None:
    assert averaging_decay(0.998, 0) == pytest.approx(0.1)
    assert averaging_decay(0.998, 10) == pytest.approx(11 / 20)
    assert averaging_decay(0.9, 1000) == 0.9
    decays = [averaging_decay(0.998, n) for n in range(5000)]
    assert all(a <= b for a, b in itertools.pairwise(decays))


def test_one_update_is_the_weighted_mean_and_copies_integer_buffers() -> None:
    net = small_net()
    average = WeightAverage(net, decay=0.5, updates_done=100)
    before = {k: v.clone() for k, v in average.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.train()
    net(torch.randn(2, 1, 4, 4, 4))  # moves BatchNorm's running stats and its counter
    average.update(net)
    now = net.state_dict()
    for key, value in average.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.5 * before[key] + 0.5 * now[key])
        else:
            assert torch.equal(value, now[key])
    assert average.updates_done == 101
    assert not average.network.training
    assert not any(p.requires_grad for p in average.network.parameters())


def test_the_average_of_a_constant_network_is_that_network() -> None:
    net = small_net()
    average = WeightAverage(net, decay=0.99)
    for _ in range(5):
        average.update(net)
    for key, value in average.state_dict().items():
        torch.testing.assert_close(value, net.state_dict()[key])


def test_a_decay_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        WeightAverage(small_net(), decay=1.0)


def test_a_warm_average_moves_one_tenth_of_the_way_at_decay_0_9() -> None:
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
        net.bias.fill_(0.0)
    average = WeightAverage(net, 0.9, updates_done=10_000)  # warm-up long over
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.fill_(-2.0)
    average.update(net)
    torch.testing.assert_close(average.network.weight, torch.full((1, 2), 0.1))
    torch.testing.assert_close(average.network.bias, torch.tensor([-0.2]))
