"""Learning-rate and noise-level schedules: pure functions of the step or epoch.

Example:
    lr = cosine_learning_rate(step, total_steps, 3e-4, 3e-5)
    lr = cosine_learning_rate(step, total_steps, 2e-3, 1e-4, warmup_steps=125)
    level = noise_level_at(epoch, levels=[0.0, 0.1, 0.2], start_epochs=[0, 10, 20])
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def cosine_learning_rate(
    step: int, total_steps: int, lr_max: float, lr_min: float, warmup_steps: int = 0
) -> float:
    """Cosine from lr_max (step 0) to lr_min (the last step); constant when they are equal.

    With warmup_steps > 0 the first steps scale it by (step + 1) / warmup_steps: a linear
    rise from lr_max / warmup_steps to the cosine, which it joins at step warmup_steps - 1.
    """
    ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if total_steps <= 1:
        return lr_max * ramp
    progress = min(max(step / (total_steps - 1), 0.0), 1.0)
    return ramp * (lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * progress)))


def noise_level_at(epoch: int, levels: Sequence[float], start_epochs: Sequence[int]) -> float:
    """The level of the last schedule entry whose start epoch (0-based) is <= epoch; else 0."""
    current = 0.0
    for start, level in sorted(zip(start_epochs, levels, strict=True)):
        if epoch >= start:
            current = level
    return current
