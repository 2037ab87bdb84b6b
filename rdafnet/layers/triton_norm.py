"""Triton kernels for instance norm + LeakyReLU on CUDA (paper eqs. 1-4: ``LReLU(IN(.))``).

Two kernels replace the six memory passes of the eager chain (mean, centre, square, variance,
scale, activation) with three: a statistics kernel reads the map twice (mean, then centred sum
of squares, both accumulated in fp32 whatever the storage dtype) and an apply kernel reads and
writes it once. Both take arbitrary strides, so NCHW and channels-last maps work without copies;
tiles are ``[pixels, channels]`` so that either layout is read coalesced.

Used automatically for CUDA tensors when ``triton`` imports; ``RDAFNET_TRITON=0`` turns it off.
On a CPU the kernels run in Triton's interpreter (``TRITON_INTERPRET=1``), which is how the tests
check them against float64.
"""

from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # optional: the eager path is used instead
    triton = None


_FAILED: list[str] = []  # set when a kernel failed once: the eager path is used from then on


def available(x: torch.Tensor) -> bool:
    """Whether the Triton path applies to ``x``: triton installed, not disabled, no earlier
    failure, an fp32/bf16/fp16 CUDA tensor (or a CPU one under the interpreter)."""
    if triton is None or _FAILED or os.environ.get("RDAFNET_TRITON", "1") == "0":
        return False
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        return False  # float64 keeps the eager path (fp32 accumulation would lose its precision)
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


def disable(reason: str) -> None:
    """Fall back to the eager path for the rest of the process, with one warning."""
    import warnings

    _FAILED.append(reason)
    warnings.warn(f"rdafnet: Triton kernels disabled, using the eager path ({reason})", RuntimeWarning, stacklevel=3)


if triton is not None:

    @triton.jit
    def _stats_kernel(
        x_ptr, mean_ptr, rstd_ptr, C, H, W, sb, sc, sh, sw, eps, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr
    ):
        b = tl.program_id(0)
        cs = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = cs < C
        n = H * W
        base = x_ptr + b * sb + cs[None, :] * sc
        acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
        for start in range(0, n, BLOCK_P):
            p = start + tl.arange(0, BLOCK_P)
            m = (p < n)[:, None] & cmask[None, :]
            v = tl.load(base + (p // W)[:, None] * sh + (p % W)[:, None] * sw, mask=m, other=0.0)
            acc += v.to(tl.float32)
        mean = tl.sum(acc, axis=0) / n
        acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
        for start in range(0, n, BLOCK_P):  # second pass: centred squares, no cancellation
            p = start + tl.arange(0, BLOCK_P)
            m = (p < n)[:, None] & cmask[None, :]
            v = tl.load(base + (p // W)[:, None] * sh + (p % W)[:, None] * sw, mask=m, other=0.0)
            d = tl.where(m, v.to(tl.float32) - mean[None, :], 0.0)
            acc += d * d
        rstd = 1.0 / tl.sqrt(tl.sum(acc, axis=0) / n + eps)
        tl.store(mean_ptr + b * C + cs, mean, mask=cmask)
        tl.store(rstd_ptr + b * C + cs, rstd, mask=cmask)

    @triton.jit
    def _apply_kernel(
        x_ptr,
        out_ptr,
        mean_ptr,
        rstd_ptr,
        C,
        H,
        W,
        sb,
        sc,
        sh,
        sw,
        ob,
        oc,
        oh,
        ow,
        slope,
        HAS_ACT: tl.constexpr,
        BLOCK_P: tl.constexpr,
        BLOCK_C: tl.constexpr,
    ):
        b = tl.program_id(0)
        cs = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        p = tl.program_id(2) * BLOCK_P + tl.arange(0, BLOCK_P)
        cmask = cs < C
        m = (p < H * W)[:, None] & cmask[None, :]
        h, w = (p // W)[:, None], (p % W)[:, None]
        v = tl.load(x_ptr + b * sb + cs[None, :] * sc + h * sh + w * sw, mask=m, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + b * C + cs, mask=cmask, other=0.0)
        rstd = tl.load(rstd_ptr + b * C + cs, mask=cmask, other=0.0)
        y = (v - mean[None, :]) * rstd[None, :]
        if HAS_ACT:
            y = tl.where(y >= 0, y, y * slope)
        tl.store(out_ptr + b * ob + cs[None, :] * oc + h * oh + w * ow, y.to(out_ptr.dtype.element_ty), mask=m)


def instance_norm_act(
    x: torch.Tensor, *, eps: float, slope: float | None, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``LeakyReLU(slope)(instance_norm(x))`` (no activation if ``slope`` is None) written to
    ``out`` (default: in place); ``x`` is (B, C, H, W) in any layout and float dtype."""
    if triton is None:
        raise RuntimeError("instance_norm_act needs triton: pip install triton")
    b, c, h, w = x.shape
    out = x if out is None else out
    mean = torch.empty(b * c, device=x.device, dtype=torch.float32)
    rstd = torch.empty_like(mean)
    block_c = min(32, triton.next_power_of_2(c))
    block_p = 128
    _stats_kernel[(b, triton.cdiv(c, block_c))](
        x, mean, rstd, c, h, w, *x.stride(), eps, BLOCK_P=block_p, BLOCK_C=block_c
    )
    grid = (b, triton.cdiv(c, block_c), triton.cdiv(h * w, block_p))
    _apply_kernel[grid](
        x,
        out,
        mean,
        rstd,
        c,
        h,
        w,
        *x.stride(),
        *out.stride(),
        0.0 if slope is None else slope,
        HAS_ACT=slope is not None,
        BLOCK_P=block_p,
        BLOCK_C=block_c,
    )
    return out
