"""The inference form of :class:`~rdafnet.layers.RDAFB` (``RDAFB.fuse()``).

Same function as the reference blocks, fewer memory passes:

- the attention-fusion 1x1 convolution over ``concat(M_0..M_k)`` is computed as a sum of per-map
  products; each map's contributions to every later fusion come from one packed 1x1 convolution
  when the map is made, so no concatenation is ever materialised;
- instance norm (+ LeakyReLU) runs in place on the convolution output, or for a single bf16 image in
  two passes of batch norm's kernel (on CUDA, as two Triton kernels when ``triton`` is installed:
  :mod:`rdafnet.layers.triton_norm`);
- the gate multiply writes straight into a reused reflect-padded buffer (only the one-pixel
  border is filled afterwards), so no separate padding copy is made;
- the sigmoid, residual add and ReLU run in place;
- with ``winograd = True`` (``rdafnet.optimize(model, conv="winograd")``) the 3x3 convolutions run as
  NNPACK's Winograd kernels on fp32 CPU tensors (:mod:`rdafnet.layers.fastconv`).
"""
from __future__ import annotations

import copy
import threading

import torch
import torch.nn.functional as F
from torch import nn

from . import fastconv, triton_norm
from .norm import NormWindow, instance_norm


class Fusable:
    """A layer with an inference form of the same function: ``rdafnet.optimize`` replaces every
    ``Fusable`` module of a model by ``module.fuse(workspace=...)``."""

    def fuse(self, *, workspace: Workspace | None = None) -> nn.Module:
        raise NotImplementedError


class Workspace:
    """Scratch tensors reused across blocks and calls (per thread), so that large activations do
    not hit fresh, page-faulting allocations every time. ``clear()`` frees them."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, torch.Tensor] = {}

    def get(self, tag: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A reusable buffer; ``None`` under ``torch.compile``, which plans its own memory."""
        if torch.compiler.is_compiling():
            return None
        fmt = torch.channels_last if like.is_contiguous(memory_format=torch.channels_last) and shape[1] > 1 \
            else torch.contiguous_format
        key = (tag, threading.get_ident(), shape, like.dtype, like.device, fmt)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt)
        return buf

    def clear(self) -> None:
        self._buffers.clear()


def instance_norm_act_(x: torch.Tensor, *, eps: float, slope: float | None, window: int | None,
                       scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Instance norm of ``x`` followed by LeakyReLU(``slope``) (skipped if ``None``): in place, except
    for a single bf16 image, which is normalised into a new tensor. Use the returned tensor."""
    if window is not None:
        y = instance_norm(x, eps=eps, window=window)
        return F.leaky_relu_(y, slope) if slope is not None else y
    if triton_norm.available(x) and not torch.compiler.is_compiling():   # inductor fuses it itself
        try:
            return triton_norm.instance_norm_act(x, eps=eps, slope=slope)
        except Exception as exc:      # noqa: BLE001 - any compile/launch failure: eager fallback
            triton_norm.disable(f"{type(exc).__name__}: {exc}")
    if x.shape[0] == 1 and x.dtype == torch.bfloat16:
        # one bf16 image: batch norm's statistics over (N, H, W) are instance norm's, and its kernel reads
        # the map once for them (accumulating in fp32) and once to normalise: fewer passes than below
        # (fp32 keeps the path below, whose sums round less: 3.9e-5 from the reference instead of 1.3e-4)
        y = F.batch_norm(x, None, None, training=True, eps=eps)
        return F.leaky_relu_(y, slope) if slope is not None else y
    stat = torch.promote_types(x.dtype, torch.float32)
    if x.dtype == torch.float16:
        # fp16's largest value is 65504: a map's sum and squares overflow, so the statistics come
        # from an fp32 copy
        var, mean = torch.var_mean(x.to(stat), dim=(-2, -1), keepdim=True, correction=0)
        x.sub_(mean.to(x.dtype))
    else:
        # sums, not var_mean: fast in both layouts. Reductions of bf16 accumulate in fp32 (a sum
        # with dtype=float32 would first copy the map, much slower); the statistics are finished in
        # fp32 and applied in x's dtype (mixed-dtype in-place ops take a slow path on CPU)
        n = x.shape[-2] * x.shape[-1]
        x.sub_(x.sum(dim=(-2, -1), keepdim=True).to(stat).div_(n).to(x.dtype))
        sq = torch.mul(x, x, out=scratch) if scratch is not None else x * x
        var = sq.sum(dim=(-2, -1), keepdim=True).to(stat).div_(n)
    x.mul_(var.add_(eps).rsqrt_().to(x.dtype))
    return F.leaky_relu_(x, slope) if slope is not None else x


def _reflect_border_(buf: torch.Tensor) -> torch.Tensor:
    """Fill the one-pixel border of ``buf`` by reflection of its interior (like F.pad 'reflect', 1)."""
    buf[..., 0, 1:-1] = buf[..., 2, 1:-1]
    buf[..., -1, 1:-1] = buf[..., -3, 1:-1]
    buf[..., :, 0] = buf[..., :, 2]
    buf[..., :, -1] = buf[..., :, -3]
    return buf


def _gated_reflect_pad(h: torch.Tensor, gate: torch.Tensor | None, buf: torch.Tensor | None) -> torch.Tensor:
    """``F.pad(h * gate, 1, "reflect")``; with a buffer, the product is written straight into its
    interior and only the border is filled (no separate padding copy)."""
    if buf is None:
        return F.pad(h if gate is None else h * gate, (1, 1, 1, 1), mode="reflect")
    inner = buf[..., 1:-1, 1:-1]
    if gate is None:
        inner.copy_(h)
    else:
        torch.mul(h, gate, out=inner)
    return _reflect_border_(buf)


class FusedRDAFB(NormWindow, nn.Module):
    """Inference-only RDAFB with the reference block's exact function (see module docstring);
    made by :meth:`RDAFB.fuse`."""

    def __init__(self, block: nn.Module, *, workspace: Workspace | None = None) -> None:
        super().__init__()
        self.workspace = workspace or Workspace()
        self.num_convs, self.attention, self.residual = block.num_convs, block.attention, block.residual
        self.slope, self.eps = block.negative_slope, block.eps
        self.norm_window, self.feature_stride = block.norm_window, block.feature_stride
        self.winograd = False           # 3x3 convolutions by NNPACK's Winograd kernels (rdafnet.optimize(conv=...))
        c, n = block.channels, block.num_convs
        self.channels = c
        self.convs = copy.deepcopy(block.convs)
        self.attns = copy.deepcopy(block.attns)
        self.dsc = nn.ModuleList(copy.deepcopy(f.dsc) for f in block.fusions)
        # map j feeds fusions max(0, j-1) .. n-2: pack those weight slices into one 1x1 conv per map
        self.users: list[list[int]] = []
        for j in range(n if block.attention == "fusion" else 0):
            fs = list(range(max(0, j - 1), n - 1))
            self.users.append(fs)
            if fs:
                w = torch.cat([block.fusions[f].reduce.weight[:, j * c:(j + 1) * c] for f in fs])
                self.register_buffer(f"pack{j}", w.detach().clone())
        for f, fusion in enumerate(block.fusions):
            self.register_buffer(f"bias{f}", fusion.reduce.bias.detach().clone())

    def train(self, mode: bool = True) -> FusedRDAFB:
        """Inference only: its weights are packed copies, so training it would update nothing the
        original block holds. Train the original model and optimize it again."""
        if mode:
            raise RuntimeError("an optimized model (rdafnet.optimize) is for inference only: train the original "
                               "model, then call rdafnet.optimize on it again")
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = self.num_convs, self.channels
        acc: dict[int, torch.Tensor] = {}
        h = x
        b, _, hh, ww = x.shape
        ws = self.workspace
        buf = ws.get("pad", (b, c, hh + 2, ww + 2), x)
        scratch = ws.get("sq", tuple(x.shape), x)
        for i, conv in enumerate(self.convs):
            gate = None
            if self.attention != "none":
                a = torch.sigmoid_(F.conv2d(h, self.attns[i].proj.weight, self.attns[i].proj.bias))
                if self.attention == "layer":
                    gate = a
                else:
                    if self.users[i]:
                        contrib = F.conv2d(a, getattr(self, f"pack{i}"))
                        for k, f in enumerate(self.users[i]):
                            part = contrib[:, k * c:(k + 1) * c]
                            if f in acc:
                                acc[f].add_(part)
                            else:       # a contiguous accumulator: the DSC conv then needs no copy
                                bias = getattr(self, f"bias{f}").view(1, -1, 1, 1)
                                out = ws.get(f"acc{f}", tuple(x.shape), x)
                                acc[f] = part + bias if out is None else torch.add(part, bias, out=out)
                    gate = a if i == 0 else self.dsc[i - 1](acc.pop(i - 1))
            y = fastconv.conv2d(_gated_reflect_pad(h, gate, buf), conv.weight, conv.bias, winograd=self.winograd)
            h = instance_norm_act_(y, eps=self.eps, slope=self.slope if i < n - 1 else None,
                                   window=self.norm_window, scratch=scratch)
        if self.residual:
            h.add_(x)
        return F.relu_(h)
