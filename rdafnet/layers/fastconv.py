"""Fast-algorithm convolutions on CPU: NNPACK's Winograd kernels (F(6x6, 3x3) tiles; FFT-like tiles for
larger kernels) for stride-1 convolutions, where oneDNN would run a direct convolution.

PyTorch routes convolutions to NNPACK only for batches of 16 or more, so a single image never gets
there; :func:`conv2d` calls it directly for fp32 CPU tensors. NNPACK needs NCHW tensors (a
channels-last map would be reordered at every call) and must be initialised first
(``torch.backends.nnpack.is_available()``). Its results differ from a direct convolution by float32
rounding of the transforms (about 1e-5 relative). Each layer shape is timed once both ways, on a crop of
its first input, and NNPACK is used only where it was faster (:func:`winograd_faster`); where NNPACK is
missing or fails its probe, the direct convolution runs.
"""

from __future__ import annotations

import functools
import time
from typing import TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

#: the side of the crop each layer shape is timed on (larger inputs share one decision)
PROBE = 192
_FASTER: dict[tuple, bool] = {}


@functools.cache
def winograd_available() -> bool:
    """NNPACK is built into this torch, initialises, and computes a 3x3 convolution correctly."""
    try:
        if not torch.backends.nnpack.is_available():
            return False
        g = torch.Generator().manual_seed(0)
        x, w = torch.rand(1, 8, 12, 10, generator=g), torch.rand(8, 8, 3, 3, generator=g) - 0.5
        b = torch.rand(8, generator=g)
        return bool(torch.allclose(winograd_conv2d(x, w, b), F.conv2d(x, w, b), rtol=1e-4, atol=1e-5))
    except (RuntimeError, AttributeError):
        return False


def winograd_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, padding: int = 0
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` by NNPACK (fp32, CPU, NCHW; stride 1, groups 1)."""
    return torch._nnpack_spatial_convolution(x.contiguous(), weight.contiguous(), bias, [padding, padding], [1, 1])


def winograd_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether NNPACK can compute this convolution (fp32 on CPU, square kernels of 3 or more)."""
    k = weight.shape[-1]
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and weight.shape[-2] == k >= 3
        and weight.shape[1] == x.shape[1]
        and not torch.compiler.is_compiling()
        and winograd_available()
    )


def winograd_faster(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> bool:
    """Whether NNPACK computed this layer shape faster than oneDNN: timed once per shape (and thread
    count) in this process, each way after a warm-up call, on a crop of at most ``PROBE`` pixels a side."""
    crop = x[..., :PROBE, :PROBE]
    key = (tuple(crop.shape), tuple(weight.shape), padding, torch.get_num_threads())
    if key not in _FASTER:

        def seconds(fn) -> float:
            fn()
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

        direct = seconds(lambda: F.conv2d(crop, weight, bias, padding=padding))
        _FASTER[key] = seconds(lambda: winograd_conv2d(crop, weight, bias, padding)) < direct
    return _FASTER[key]


def conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *, padding: int = 0, winograd: bool = False
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1, groups 1); with ``winograd=True`` by
    NNPACK where it applies and was measured faster for this layer shape (:func:`winograd_faster`)."""
    if winograd and winograd_applies(x, weight) and winograd_faster(x, weight, bias, padding):
        return winograd_conv2d(x, weight, bias, padding)
    return F.conv2d(x, weight, bias, padding=padding)


class WinogradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (stride 1, zero padding, groups 1) computed by :func:`conv2d` with ``winograd=True``;
    same parameters and state-dict keys. :meth:`replaces` says which layers ``from_conv`` takes."""

    @staticmethod
    def replaces(conv: nn.Module) -> TypeGuard[nn.Conv2d]:
        return (
            type(conv) is nn.Conv2d
            and conv.stride == (1, 1)
            and conv.dilation == (1, 1)
            and conv.groups == 1
            and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple)
            and conv.padding[0] == conv.padding[1]
            and conv.kernel_size[0] == conv.kernel_size[1] >= 3
        )

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> WinogradConv2d:
        kh, kw = conv.kernel_size
        ph, pw = conv.padding if isinstance(conv.padding, tuple) else (0, 0)  # replaces() takes tuples only
        fast = cls(
            conv.in_channels,
            conv.out_channels,
            (kh, kw),
            padding=(ph, pw),
            bias=conv.bias is not None,
            device="meta",
        )
        fast.weight, fast.bias = conv.weight, conv.bias
        return fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, padding=int(self.padding[0]), winograd=True)
