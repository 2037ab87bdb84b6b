"""Fast-algorithm convolutions on CPU: NNPACK's Winograd kernels (F(6x6, 3x3) tiles) for the 3x3
convolutions of the blocks, where oneDNN would run a direct convolution.

PyTorch routes convolutions to NNPACK only for batches of 16 or more, so a single image never gets
there; :func:`conv2d` calls it directly for fp32 CPU tensors. NNPACK needs NCHW tensors (a
channels-last map would be reordered at every call) and must be initialised first
(``torch.backends.nnpack.is_available()``). Its results differ from a direct convolution by float32
rounding of the transforms (about 1e-5 relative). Where NNPACK is missing or fails its probe, the
direct convolution runs instead.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


@functools.cache
def winograd_available() -> bool:
    """NNPACK is built into this torch, initialises, and computes a 3x3 convolution correctly."""
    try:
        if not torch.backends.nnpack.is_available():
            return False
        g = torch.Generator().manual_seed(0)
        x, w = torch.rand(1, 8, 12, 10, generator=g), torch.rand(8, 8, 3, 3, generator=g) - 0.5
        b = torch.rand(8, generator=g)
        got = torch._nnpack_spatial_convolution(x, w, b, [0, 0], [1, 1])
        return bool(torch.allclose(got, F.conv2d(x, w, b), rtol=1e-4, atol=1e-5))
    except (RuntimeError, AttributeError):
        return False


def winograd_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`conv2d` with ``winograd=True`` would use NNPACK for this input and weight."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and weight.shape[-2:] == (3, 3) and not torch.compiler.is_compiling() and winograd_available())


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
           winograd: bool = False) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` (stride 1, no padding, groups 1); with ``winograd=True`` NNPACK's
    Winograd kernels compute it where they apply (fp32 on CPU, 3x3), in NCHW."""
    if winograd and winograd_applies(x, weight):
        return torch._nnpack_spatial_convolution(x.contiguous(), weight.contiguous(), bias, [0, 0], [1, 1])
    return F.conv2d(x, weight, bias)
