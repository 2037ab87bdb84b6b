"""Training losses, paper eqs. 8-10."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def frequency_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance between the rfft2 spectra (real and imaginary parts), paper eq. 9."""
    p, t = torch.fft.rfft2(pred.float()), torch.fft.rfft2(target.float())
    return F.l1_loss(torch.view_as_real(p), torch.view_as_real(t))


def deblur_loss(
    stages: Sequence[torch.Tensor] | torch.Tensor, target: torch.Tensor, *, freq_weight: float = 0.1
) -> torch.Tensor:
    """Sum over stage outputs of ``L1 + freq_weight * frequency L1`` (paper eqs. 8 and 10, lambda = 0.1)."""
    if isinstance(stages, torch.Tensor):
        stages = (stages,)
    losses = [F.l1_loss(s, target) + freq_weight * frequency_l1(s, target) for s in stages]
    return torch.stack(losses).sum()
