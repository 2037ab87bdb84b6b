"""``bench.py winograd-own``: Winograd convolutions written with PyTorch ops (tile transforms as matrix
products, one batched GEMM over the transformed tiles, channels-last tiles) against NNPACK and oneDNN, for
each layer shape that ``conv="winograd"`` may take.

F(m x m, r x r) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): ``Y = A^T [(G g
G^T) * (B^T d B)] A`` per tile of ``m + r - 1`` pixels a side. ``A^T`` and ``G`` come from the interpolation
points (0, 1, -1, 2, -2, 1/2, -1/2, ... and infinity), ``B^T`` is solved from the exactness condition in
float64. Each layer is timed whole and as its batched GEMM alone (the transforms taken as free): where even
the GEMM alone is slower than NNPACK, no transform code can make the layer faster.

This is a measurement, not a library path: the library ships it only where it beats NNPACK.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

import torch
import torch.nn.functional as F
from _bench_common import _best, _write_result, as_isa, cpu_summary
from bench_layers import _conv_shapes

POINTS = (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), 3, -3, Fraction(1, 3), Fraction(-1, 3))


def cook_toom(m: int, r: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(A^T, G, B^T)`` of F(m, r) in float64: ``A^T`` is m x a, ``G`` a x r, ``B^T`` a x a (a = m + r - 1)."""
    a = m + r - 1
    pts = POINTS[: a - 1]
    at = [[p**i for p in pts] + [int(i == m - 1)] for i in range(m)]
    g = []
    for j, p in enumerate(pts):
        f = math.prod(p - q for k, q in enumerate(pts) if k != j)
        g.append([p**k / f for k in range(r)])
    g.append([int(k == r - 1) for k in range(r)])
    at_t, g_t = (
        torch.tensor([[float(v) for v in row] for row in at], dtype=torch.float64),
        torch.tensor([[float(v) for v in row] for row in g], dtype=torch.float64),
    )
    # exactness: sum_j A^T[i, j] G[j, k] B^T[j, c] = 1 where c = i + k, else 0, for every i < m, k < r
    system = (at_t[:, None, :] * g_t.T[None, :, :]).reshape(m * r, a)  # rows (i, k), columns j
    target = torch.zeros(m * r, a, dtype=torch.float64)
    for i in range(m):
        for k in range(r):
            target[i * r + k, i + k] = 1.0
    bt = torch.linalg.lstsq(system, target).solution
    assert torch.allclose(system @ bt, target, atol=1e-9), f"F({m}, {r}) has no exact B^T with these points"
    return at_t, g_t, bt


class OwnWinograd:
    """One convolution layer (stride 1, no padding: the input is already padded) as F(m x m, r x r)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, m: int) -> None:
        at, g, bt = cook_toom(m, weight.shape[-1])
        self.m, self.r, self.a = m, weight.shape[-1], m + weight.shape[-1] - 1
        # weights transformed once, in float64: (a*a, C, K) for the batched GEMM
        u = g @ weight.double() @ g.T  # K, C, a, a
        self.u = u.permute(2, 3, 1, 0).reshape(self.a**2, weight.shape[1], weight.shape[0]).float().contiguous()
        self.bin = torch.kron(bt, bt).T.float().contiguous()  # flattened tile (a*a) -> transformed (a*a)
        self.bout = torch.kron(at, at).T.float().contiguous()  # transformed (a*a) -> output tile (m*m)
        self.bias = bias

    def tiles(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """The input's overlapping tiles, transformed: (a*a, tiles, C)."""
        _, c, h, w = x.shape
        ho, wo = h - self.r + 1, w - self.r + 1
        th, tw = -(-ho // self.m), -(-wo // self.m)
        x = F.pad(x, (0, self.m * tw + self.r - 1 - w, 0, self.m * th + self.r - 1 - h))
        d = x.permute(0, 2, 3, 1).unfold(1, self.a, self.m).unfold(2, self.a, self.m)  # 1, th, tw, C, a, a
        d = d.reshape(th * tw * c, self.a**2) @ self.bin  # (tiles*C, a*a)
        return d.view(th * tw, c, self.a**2).permute(2, 0, 1), (th, tw, ho, wo)

    def gemm(self, v: torch.Tensor) -> torch.Tensor:
        return torch.bmm(v, self.u)  # a*a, tiles, K

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        v, (th, tw, ho, wo) = self.tiles(x)
        y = self.gemm(v)  # a*a, tiles, K
        k = y.shape[-1]
        y = (y.permute(1, 2, 0).reshape(-1, self.a**2) @ self.bout).view(th, tw, k, self.m, self.m)
        y = y.permute(2, 0, 3, 1, 4).reshape(1, k, th * self.m, tw * self.m)[..., :ho, :wo]
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def _measure(x: torch.Tensor, wt: torch.Tensor, b: torch.Tensor, tiles: list[int], repeats: int) -> dict:
    """One layer's timings (best of ``repeats`` after a warm-up) and largest errors relative to float64 (on a
    crop of 192 output pixels a side)."""
    k = wt.shape[-1]
    crop = x[..., : 192 + k - 1, : 192 + k - 1]  # errors on a crop: a float64 convolution of a frame would not fit
    ref = F.conv2d(crop.double(), wt.double(), b.double())
    scale = float(ref.abs().max())
    xcl, wcl = x.contiguous(memory_format=torch.channels_last), wt.contiguous(memory_format=torch.channels_last)
    out = {"onednn_cl_s": _best(lambda: F.conv2d(xcl, wcl, b), repeats)}

    def nnpack() -> torch.Tensor:
        return torch._nnpack_spatial_convolution(x, wt, b, [0, 0], [1, 1])

    out["nnpack_rel_error"] = float((nnpack()[..., :192, :192] - ref).abs().max()) / scale
    out["nnpack_s"] = _best(nnpack, repeats)
    for m in tiles:
        own = OwnWinograd(wt, b, m)
        out[f"f{m}_rel_error"] = float((own(crop) - ref).abs().max()) / scale
        out[f"f{m}_s"] = _best(lambda own=own: own(x), repeats)
        v, _ = own.tiles(x)
        out[f"f{m}_gemm_s"] = _best(lambda own=own, v=v: own.gemm(v), repeats)
    return out


def winograd_own(args: argparse.Namespace) -> None:
    """Each layer shape: oneDNN (channels-last), NNPACK, and F(4x4) / F(6x6) in PyTorch ops (whole and GEMM
    alone), with each one's largest error relative to float64."""
    as_isa(args.isa)
    torch.set_grad_enabled(False)
    h, w = map(int, args.size.split("x"))
    print(f"CPU: {cpu_summary()}; isa {args.isa}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    head = "| in | out | kernel | input | layers | oneDNN s | NNPACK s |"
    for m in args.tiles:
        head += f" F({m}x{m}) s | F({m}x{m}) GEMM alone s |"
    print(head + " rel. error NNPACK | " + " | ".join(f"rel. error F({m}x{m})" for m in args.tiles) + " |")
    rows = []
    g = torch.Generator().manual_seed(0)
    for (cin, cout, k, pad, ih, iw), count in _conv_shapes(args.variant, h, w).items():
        x = torch.rand(1, cin, ih + 2 * pad, iw + 2 * pad, generator=g)  # the input as padded
        wt = (torch.rand(cout, cin, k, k, generator=g) - 0.5) / math.sqrt(cin * k * k)
        b = torch.rand(cout, generator=g) - 0.5
        row = {"in": cin, "out": cout, "kernel": k, "input": f"{ih}x{iw}", "layers": count}
        row.update(_measure(x, wt, b, args.tiles, args.repeats))
        rows.append(row)
        cells = [f"{row['onednn_cl_s']:.3f}", f"{row['nnpack_s']:.3f}"]
        cells += [f"{row[f'f{m}_{p}']:.3f}" for m in args.tiles for p in ("s", "gemm_s")]
        cells += [f"{row['nnpack_rel_error']:.1e}"] + [f"{row[f'f{m}_rel_error']:.1e}" for m in args.tiles]
        print(f"| {cin} | {cout} | {k}x{k} | {ih}x{iw} | {count} | " + " | ".join(cells) + " |", flush=True)
    if args.json:
        _write_result(args.json, "winograd-own", rows, isa=args.isa, variant=args.variant, size=args.size)
