"""The pure schedules: cosine learning rate and the noise-level steps."""

import itertools
import math

import pytest

from isonet2.train.schedule import cosine_learning_rate, noise_level_at


def test_cosine_runs_from_lr_max_to_lr_min_and_falls_monotonically() -> None:
    total = 11
    rates = [cosine_learning_rate(step, total, 1e-3, 1e-5) for step in range(total)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-5)  # the last step reaches lr_min
    assert rates[5] == pytest.approx((1e-3 + 1e-5) / 2)  # halfway: the mean of the ends
    assert all(a > b for a, b in itertools.pairwise(rates))
    # an independent form: lr_max - (lr_max - lr_min) * sin^2(pi/2 * progress)
    for step, rate in enumerate(rates):
        expected = 1e-3 - (1e-3 - 1e-5) * math.sin(math.pi / 2 * step / (total - 1)) ** 2
        assert rate == pytest.approx(expected)


def test_a_single_step_run_uses_the_starting_rate() -> None:
    assert cosine_learning_rate(0, 1, 3e-4, 3e-5) == pytest.approx(3e-4)
    assert cosine_learning_rate(0, 0, 3e-4, 3e-5) == pytest.approx(3e-4)


def test_a_warmup_rises_linearly_then_joins_the_cosine() -> None:
    total, warmup = 11, 4
    rates = [cosine_learning_rate(step, total, 1e-3, 1e-5, warmup) for step in range(total)]
    plain = [cosine_learning_rate(step, total, 1e-3, 1e-5) for step in range(total)]
    for step in range(warmup):  # (step + 1) / warmup of the cosine: 1/4, 2/4, 3/4, 4/4
        assert rates[step] == pytest.approx(plain[step] * (step + 1) / warmup)
    assert rates[warmup - 1 :] == pytest.approx(plain[warmup - 1 :])  # joined, then the same
    assert all(a < b for a, b in itertools.pairwise(rates[:warmup]))  # rising
    assert rates[0] == pytest.approx(1e-3 / warmup)
    assert cosine_learning_rate(0, 1, 3e-4, 3e-5, 2) == pytest.approx(1.5e-4)  # one step too


def test_each_noise_level_starts_at_its_own_zero_based_epoch() -> None:
    levels, starts = [0.1, 0.2, 0.3], [0, 2, 5]
    got = [noise_level_at(epoch, levels, starts) for epoch in range(7)]
    assert got == [0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3]
    assert noise_level_at(0, [0.4], [1]) == 0.0  # before the first start: no noise
    assert noise_level_at(3, [0.3, 0.1], [2, 0]) == 0.3  # order of the lists does not matter
