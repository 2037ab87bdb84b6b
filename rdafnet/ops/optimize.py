"""``optimize()``: a copy of a model with every fusable block replaced by its inference form."""
from __future__ import annotations

import copy
import json
import time

import torch
from torch import nn

from ..layers.fused import Fusable, Workspace
from ..models import RDAFNetBase
from ..precision import AUTO, PRECISIONS, auto_precision


def optimize(model: nn.Module, *, channels_last: bool = True, precision: str = "fp32") -> nn.Module:
    """A copy of ``model`` for inference in which every :class:`~rdafnet.layers.Fusable` layer (each
    RDAFB) is replaced by its ``fuse()`` form, sharing one scratch workspace; same outputs.

    ``channels_last`` stores weights (and so activations) channels-last, where oneDNN's
    convolutions run without layout reorders (faster 1x1 convolutions on CPU). Works for every
    network and for user models that contain RDAFBs. The copy is in eval mode, without autograd.

    ``precision="bf16"`` (or ``"fp16"``, for GPUs) runs an RDAFNet network under autocast:
    convolutions and stored activations in reduced precision, instance-norm statistics and the
    global residual in fp32, outputs in the input's dtype. Not exact: see docs/performance.md for
    the measured PSNR against the fp32 path. bf16 pays off on GPUs and on CPUs with native bf16
    (``rdafnet.ops.bf16_native``); elsewhere it is emulated and slower.

    ``precision="auto"`` picks the fastest for this network on the device its weights are on
    (:func:`choose_precision`): fp32 unless a reduced precision is measured to be faster.
    """
    if precision == AUTO:
        precision = choose_precision(model, channels_last=channels_last)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {[AUTO, *PRECISIONS]}, got {precision!r}")
    dtype = PRECISIONS[precision]
    fast = copy.deepcopy(model).eval()
    if dtype is not None:
        if not isinstance(fast, RDAFNetBase):
            raise ValueError(f"precision={precision!r} needs an RDAFNet network; for your own model use "
                             "optimize(model) and run it under torch.autocast")
        fast.autocast_dtype = dtype
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    workspace = Workspace()
    for module in list(fast.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Fusable):
                setattr(module, name, child.fuse(workspace=workspace))
    if dtype is not None:
        fast = fast.to(dtype)       # weights stored in bf16/fp16, so autocast casts only the input
    return fast.requires_grad_(False)


def choose_precision(model: nn.Module, *, channels_last: bool = True) -> str:
    """What ``precision="auto"`` resolves to for ``model`` on its device (:func:`rdafnet.precision.auto_precision`):
    a reduced precision only for RDAFNet networks, and on CPUs only where measured faster than fp32."""
    if not isinstance(model, RDAFNetBase):
        return "fp32"
    device = next(model.parameters()).device
    key = json.dumps({k: v for k, v in model.config.items() if k != "rdafnet_version"}, sort_keys=True)

    @torch.no_grad()
    def measure(precision: str) -> float:
        fast = optimize(model, channels_last=channels_last, precision=precision)
        x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)).to(device)
        best = float("inf")
        for i in range(3):                  # the first pass warms oneDNN's kernel cache up
            t = time.perf_counter()
            fast(x)
            best = best if i == 0 else min(best, time.perf_counter() - t)
        return best
    return auto_precision(device, key=key, measure=measure)
