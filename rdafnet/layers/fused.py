"""The inference form of :class:`~rdafnet.layers.RDAFB` (``RDAFB.fuse()``).

Same function as the reference blocks, fewer memory passes:

- the attention-fusion 1x1 convolution over ``concat(M_0..M_k)`` is a sum of per-map matrix
  products accumulated in place (one ``addmm`` a map), so no concatenation is ever copied and the
  maps stay contiguous for the gate products;
- instance norm (+ LeakyReLU) runs in place on the convolution output, or for a single bf16 image in
  two passes of batch norm's kernel (on CUDA, as two Triton kernels when ``triton`` is installed:
  :mod:`rdafnet.layers.triton_norm`);
- the gate multiply writes straight into a reused reflect-padded buffer (only the one-pixel
  border is filled afterwards), so no separate padding copy is made;
- the sigmoid, residual add and ReLU run in place;
- with ``precision="int8"`` the 3x3 convolutions are :class:`~rdafnet.layers.quant.Int8Conv2d` layers that
  read the padded buffer (:func:`rdafnet.optimize`);
- with ``winograd = True`` (``rdafnet.optimize(model, conv="winograd")``) the 3x3 convolutions run as
  NNPACK's Winograd kernels on fp32 CPU tensors (:mod:`rdafnet.layers.fastconv`).
"""

from __future__ import annotations

import copy
import threading
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn

from rdafnet.layers import fastconv, triton_norm
from rdafnet.layers.attention import AttentionFusion, PixelAttention
from rdafnet.layers.norm import NormWindow, instance_norm
from rdafnet.layers.quant import Int8Conv2d


class Fusable:
    """A layer with an inference form of the same function: ``rdafnet.optimize`` replaces every
    ``Fusable`` module of a model by ``module.fuse(workspace=...)``."""

    def fuse(self, *, workspace: Workspace | None = None) -> nn.Module:
        raise NotImplementedError


class Workspace:
    """Scratch tensors reused across blocks and calls (per thread), so that large activations do
    not hit fresh, page-faulting allocations every time. One buffer per use and thread: a new input size
    replaces the buffers of the last one, so a stream of sizes holds no more than its largest frame's.
    ``clear()`` frees them."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, tuple[tuple, torch.Tensor]] = {}  # (tag, thread) -> (its key, buffer)

    def get(self, tag: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A reusable buffer; ``None`` under ``torch.compile``, which plans its own memory."""
        if torch.compiler.is_compiling():
            return None
        fmt = _memory_format(like)
        use = (tag, threading.get_ident())
        # a buffer made under torch.inference_mode() is an inference tensor, which may not be written outside it
        key = (shape, like.dtype, like.device, fmt, torch.is_inference_mode_enabled())
        held = self._buffers.get(use)
        if held is None or held[0] != key:
            held = self._buffers[use] = (
                key,
                torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt),
            )
        return held[1]

    def clear(self) -> None:
        self._buffers.clear()

    def __getstate__(self) -> dict:
        """Scratch is not state: a saved, pickled or copied model carries no buffers (they come back on use)."""
        return {"_buffers": {}}


def instance_norm_act_(
    x: torch.Tensor, *, eps: float, slope: float | None, window: int | None, scratch: torch.Tensor | None = None
) -> torch.Tensor:
    """Instance norm of ``x`` followed by LeakyReLU(``slope``) (skipped if ``None``): in place, except
    for a single bf16 image, which is normalised into a new tensor. Use the returned tensor."""
    if window is not None:
        y = instance_norm(x, eps=eps, window=window)
        return F.leaky_relu_(y, slope) if slope is not None else y
    if triton_norm.available(x) and not torch.compiler.is_compiling():  # inductor fuses it itself
        try:
            return triton_norm.instance_norm_act(x, eps=eps, slope=slope)
        except Exception as exc:  # noqa: BLE001 - any compile/launch failure: eager fallback
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


class _Block(Protocol):
    """What :class:`FusedRDAFB` reads of the block it fuses (an :class:`rdafnet.RDAFB`)."""

    channels: int
    num_convs: int
    residual: bool
    negative_slope: float
    eps: float
    norm_window: int | None
    feature_stride: int
    convs: nn.ModuleList
    attns: nn.ModuleList
    fusions: nn.ModuleList

    @property
    def attention(self) -> str: ...


class FusedRDAFB(NormWindow, nn.Module):
    """Inference-only RDAFB with the reference block's exact function (see module docstring);
    made by :meth:`RDAFB.fuse`."""

    def __init__(self, block: _Block, *, workspace: Workspace | None = None) -> None:
        super().__init__()
        self.workspace = workspace or Workspace()
        self.num_convs, self.attention, self.residual = block.num_convs, block.attention, block.residual
        self.slope, self.eps = block.negative_slope, block.eps
        self.norm_window, self.feature_stride = block.norm_window, block.feature_stride
        self.winograd = False  # 3x3 convolutions by NNPACK's Winograd kernels (rdafnet.optimize(conv=...))
        c = block.channels
        self.channels = c
        self.convs = copy.deepcopy(block.convs)
        self.attns = copy.deepcopy(block.attns)
        fusions = [cast(AttentionFusion, f) for f in block.fusions]
        self.dsc = nn.ModuleList(copy.deepcopy(f.dsc) for f in fusions)
        self.reduce = nn.ModuleList(copy.deepcopy(f.reduce) for f in fusions)

    def train(self, mode: bool = True) -> FusedRDAFB:
        """Inference only: its weights are copies, so training it would update nothing the
        original block holds. Train the original model and optimize it again."""
        if mode:
            raise RuntimeError(
                "an optimized model (rdafnet.optimize) is for inference only: train the original "
                "model, then call rdafnet.optimize on it again"
            )
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = self.num_convs, self.channels
        h = x
        b, _, hh, ww = x.shape
        ws = self.workspace
        buf = ws.get("pad", (b, c, hh + 2, ww + 2), x)
        scratch = ws.get("sq", tuple(x.shape), x)
        maps = _AttentionMaps(x, n, ws) if self.attention == "fusion" else None
        for i, conv in enumerate(self.convs):
            gate = None
            if self.attention != "none":
                proj = cast(PixelAttention, self.attns[i]).proj
                logits = F.conv2d(h, proj.weight, proj.bias)
                if maps is None:
                    gate = torch.sigmoid_(logits)
                else:
                    a = maps.add(logits)
                    gate = a if i == 0 else self.dsc[i - 1](maps.fuse(cast(nn.Conv2d, self.reduce[i - 1])))
            padded = _gated_reflect_pad(h, gate, buf)
            if isinstance(conv, Int8Conv2d):  # rdafnet.optimize(model, precision="int8")
                y = conv.forward_padded(padded)
            else:
                conv = cast(nn.Conv2d, conv)
                y = fastconv.conv2d(padded, conv.weight, conv.bias, winograd=self.winograd)
            h = instance_norm_act_(
                y, eps=self.eps, slope=self.slope if i < n - 1 else None, window=self.norm_window, scratch=scratch
            )
        if self.residual:
            h.add_(x)
        return F.relu_(h)


def _memory_format(like: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if like.is_contiguous(memory_format=torch.channels_last) and like.shape[1] > 1
        else torch.contiguous_format
    )


class _AttentionMaps:
    """The attention maps of one block as they are made, and the 1x1 convolutions over their
    concatenation (the fusions of eq. 3), without copying the concatenation:

    - one NCHW image: the maps are written into the channel slices of one buffer, whose leading
      slices are then the concatenations, contiguous, for one convolution each;
    - channels-last: a sum of per-map matrix products (one row a pixel), accumulated in place;
    - otherwise (and under ``torch.compile``): a concatenation and a convolution.
    """

    def __init__(self, like: torch.Tensor, count: int, workspace: Workspace) -> None:
        b, self.channels, hh, ww = like.shape
        nchw = b == 1 and like.is_contiguous() and not like.is_contiguous(memory_format=torch.channels_last)
        self.stack = workspace.get("maps", (1, count * self.channels, hh, ww), like) if nchw else None
        self.out = workspace.get("fused", tuple(like.shape), like)
        self.maps: list[torch.Tensor] = []

    def add(self, logits: torch.Tensor) -> torch.Tensor:
        """The map ``sigmoid(logits)`` (in place, or into its slice of the buffer), kept for the fusions."""
        c, i = self.channels, len(self.maps)
        a = (
            torch.sigmoid_(logits)
            if self.stack is None
            else torch.sigmoid(logits, out=self.stack[:, i * c : (i + 1) * c])
        )
        self.maps.append(a)
        return a

    def fuse(self, conv: nn.Conv2d) -> torch.Tensor:
        """``conv(cat(maps so far))``."""
        if self.stack is not None:
            return conv(self.stack[:, : len(self.maps) * self.channels])
        first, c = self.maps[0], self.channels
        if not first.is_contiguous(memory_format=torch.channels_last) or torch.compiler.is_compiling():
            return conv(torch.cat(self.maps, dim=1))
        b, _, hh, ww = first.shape

        def rows(t: torch.Tensor) -> torch.Tensor:
            return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])

        w = conv.weight.view(conv.out_channels, -1)
        bias = conv.bias if conv.bias is not None else first.new_zeros(conv.out_channels)
        o = torch.addmm(bias, rows(first), w[:, :c].t(), out=None if self.out is None else rows(self.out))
        for j in range(1, len(self.maps)):
            o.addmm_(rows(self.maps[j]), w[:, j * c : (j + 1) * c].t())
        return o.view(b, hh, ww, -1).permute(0, 3, 1, 2)


def unfused_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` in the layout of the blocks before :meth:`RDAFB.fuse` (each fused block's
    ``dsc.I`` / ``reduce.I`` back under ``fusions.I``): what the model saved before ``optimize`` holds."""
    fused = [name + "." for name, m in model.named_modules() if isinstance(m, FusedRDAFB)]
    out = {}
    for key, value in model.state_dict().items():
        prefix = next((p for p in fused if key.startswith(p)), None)
        if prefix is not None:
            part, _, rest = key[len(prefix) :].partition(".")
            if part in ("dsc", "reduce"):
                index, _, tail = rest.partition(".")
                key = f"{prefix}fusions.{index}.{part}.{tail}"
        out[key] = value
    return out
