"""Learning-rate schedule, paper eq. 11, scaled to any step budget."""

from __future__ import annotations


def paper_lr(
    step: int, *, total_steps: int, lr: float = 1e-4, min_lr: float = 1e-7, constant_fraction: float = 0.1
) -> float:
    """Constant ``lr`` for the first ``constant_fraction`` of training (300 of 3000 epochs in the
    paper), then linear decay to ``min_lr`` at ``total_steps``."""
    hold = int(total_steps * constant_fraction)
    if step <= hold:
        return lr
    frac = min(1.0, (step - hold) / max(1, total_steps - hold))
    return lr - (lr - min_lr) * frac
