"""``optimize()``: a copy of a model with every fusable block replaced by its inference form."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..layers.fused import Fusable, Workspace
from ..models import RDAFNetBase
from ..precision import PRECISIONS


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
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
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
