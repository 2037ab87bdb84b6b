"""Parameter and multiply-add counts."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Profile:
    params: int
    macs: int  # multiply-adds of convolutions (the paper's "FLOPs")
    size: tuple[int, int]

    def __str__(self) -> str:
        return (
            f"{self.params / 1e6:.2f} M params, {self.macs / 1e9:.2f} G multiply-adds at {self.size[0]}x{self.size[1]}"
        )


def profile(model: nn.Module, size: tuple[int, int] = (256, 256)) -> Profile:
    """Count parameters and convolution multiply-adds for one (1, 3, H, W) input.

    Runs on the ``meta`` device, so it is instant and allocates nothing.
    """
    meta = copy.deepcopy(model).to("meta")
    total = 0

    def hook(mod: nn.Conv2d | nn.ConvTranspose2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        k = mod.weight.shape[2] * mod.weight.shape[3]
        if isinstance(mod, nn.ConvTranspose2d):  # every input pixel scatters a k*k*out/groups patch
            total += inputs[0].numel() * mod.out_channels // mod.groups * k
        else:
            total += out.numel() * mod.in_channels // mod.groups * k

    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            meta.forward_signed(torch.zeros(1, 3, *size, device="meta"))  # type: ignore[operator]  # any RDAFNet network
    finally:
        for h in handles:
            h.remove()
    params = sum(p.numel() for p in model.parameters())
    return Profile(params=params, macs=total, size=(size[0], size[1]))
