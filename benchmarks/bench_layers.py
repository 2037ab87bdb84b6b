"""``bench.py convs`` and ``bench.py int8-layers``: the network's convolutions one by one."""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch
from _bench_common import (
    _best,
    _write_result,
    cpu_summary,
)


def _conv_shapes(variant: str, h: int, w: int) -> dict[tuple, int]:
    """The stride-1 convolutions of 3x3 and larger kernels that ``conv="winograd"`` may take, at an
    (h, w) frame: {(in, out, kernel, padding, height, width): how many layers}, from a forward pass on
    the meta device (no compute)."""
    import rdafnet
    from rdafnet.layers.fastconv import WinogradConv2d

    model = rdafnet.build(variant).eval()
    shapes: dict[tuple, int] = {}

    def hook(conv, inputs, _out):
        x = inputs[0]
        if WinogradConv2d.replaces(conv):
            key = (conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.padding[0], *x.shape[-2:])
        elif isinstance(conv, torch.nn.Conv2d) and conv.padding_mode == "reflect" and conv.kernel_size == (3, 3):
            # a block's convolution: the fused block pads (reflect) and convolves without padding
            key = (conv.in_channels, conv.out_channels, 3, 0, x.shape[-2] + 2, x.shape[-1] + 2)
        else:
            return
        shapes[key] = shapes.get(key, 0) + 1

    for m in model.modules():
        m.register_forward_hook(hook)
    model.to("meta").forward_signed(torch.empty(1, 3, h, w, device="meta"))
    return shapes


def convs(args: argparse.Namespace) -> None:
    """Each convolution shape of a network at a frame size: oneDNN (NCHW, channels-last) against NNPACK."""
    import torch.nn.functional as F

    from rdafnet.layers import fastconv

    h, w = map(int, args.size.split("x"))
    print(f"CPU: {cpu_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| in | out | kernel | input | layers | oneDNN NCHW s | oneDNN channels-last s | NNPACK s | x | kept |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    g = torch.Generator().manual_seed(0)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    for (cin, cout, k, pad, hh, ww), n in sorted(_conv_shapes(args.variant, h, w).items()):
        x, wt = torch.randn(1, cin, hh, ww, generator=g), torch.randn(cout, cin, k, k, generator=g) * 0.05
        xc, wc = x.contiguous(memory_format=torch.channels_last), wt.contiguous(memory_format=torch.channels_last)
        nchw = best(partial(F.conv2d, x, wt, padding=pad))
        cl = best(partial(F.conv2d, xc, wc, padding=pad))
        nn_s = best(partial(fastconv.winograd_conv2d, x, wt, None, pad)) if fastconv.winograd_available() else None
        kept = fastconv.winograd_faster(x, wt, None, pad) if nn_s is not None else False
        r = {
            "in": cin,
            "out": cout,
            "kernel": k,
            "input": f"{hh}x{ww}",
            "layers": n,
            "onednn_nchw_s": nchw,
            "onednn_cl_s": cl,
            "nnpack_s": nn_s,
            "nnpack_kept": kept,
        }
        rows.append(r)
        ratio = f"{nchw / nn_s:.2f}" if nn_s else "-"
        print(
            f"| {cin} | {cout} | {k}x{k} | {hh}x{ww} | {n} | {nchw:.3f} | {cl:.3f} | "
            f"{nn_s if nn_s is None else round(nn_s, 3)} | {ratio} | {'NNPACK' if kept else 'oneDNN'} |",
            flush=True,
        )
    if args.json:
        _write_result(args.json, "convs", rows, variant=args.variant, size=args.size)


def _int8_kind(name: str) -> str:
    """The role of a convolution in a network, from its module name."""
    for part, kind in (
        (".convs.", "block 3x3"),
        (".attns.", "attention 1x1"),
        (".reduce", "fusion 1x1"),
        (".depthwise", "DSC depthwise 3x3"),
        (".pointwise", "DSC pointwise 1x1"),
    ):
        if part in name:
            return kind
    return name.rsplit(".", 1)[-1]


def int8_layers(args: argparse.Namespace) -> None:
    """Each convolution role of a network at a frame size: the float path's convolution (bf16 where native,
    else fp32; channels-last) against the int8 one, with and without quantizing its input."""
    import torch.nn.functional as F

    import rdafnet
    from rdafnet.layers.quant import Int8Conv2d, quantize_uint8
    from rdafnet.ops import bf16_native

    rdafnet.ops.keep_freed_memory()
    h, w = map(int, args.size.split("x"))
    dtype = torch.bfloat16 if bf16_native("cpu") else torch.float32
    model = rdafnet.build(args.variant).eval()
    shapes: dict[tuple, list] = {}
    for name, m in model.named_modules():
        if type(m) is torch.nn.Conv2d:
            m.register_forward_hook(
                lambda conv, inputs, _o, n=name: shapes.setdefault(
                    (_int8_kind(n), conv, tuple(inputs[0].shape[-2:])), []
                ).append(n)
            )
    model.to("meta").forward_signed(torch.empty(1, 3, h, w, device="meta"))
    print(f"CPU: {cpu_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads; float = {dtype}")
    print("| layer | in | out | kernel | input | layers | float s | int8 s (with quantizing) | int8 conv alone s | x |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    g = torch.Generator().manual_seed(0)
    seen: dict[tuple, dict] = {}
    for (kind, conv, (hh, ww)), names in shapes.items():
        k, cin, cout = conv.kernel_size[0], conv.in_channels, conv.out_channels
        key = (kind, cin, cout, k, conv.stride[0], conv.groups, hh, ww)
        if key in seen:
            seen[key]["layers"] += len(names)
            continue
        real = torch.nn.Conv2d(cin, cout, k, stride=conv.stride, padding=conv.padding, groups=conv.groups,
                               bias=conv.bias is not None, padding_mode=conv.padding_mode)  # fmt: skip
        pad = conv.padding[0] if conv.padding_mode == "zeros" else 0
        hp, wp = (hh, ww) if conv.padding_mode == "zeros" else (hh + 2 * conv.padding[0], ww + 2 * conv.padding[1])
        x = torch.randn(1, cin, hp, wp, generator=g).contiguous(memory_format=torch.channels_last)
        wt = real.weight.detach().to(dtype).contiguous(memory_format=torch.channels_last)
        xf = x.to(dtype)
        fl = _best(partial(F.conv2d, xf, wt, None, conv.stride, pad, 1, conv.groups), args.repeats)
        row = {"layer": kind, "in": cin, "out": cout, "kernel": k, "stride": conv.stride[0], "groups": conv.groups}
        row |= {"input": f"{hh}x{ww}", "layers": len(names), "float_s": fl, "int8_s": None, "int8_conv_s": None}
        if conv.groups == 1:
            q = Int8Conv2d(real, low=-3.0, high=3.0)
            row["int8_s"] = _best(partial(q.forward_padded, xf), args.repeats)
            qx = quantize_uint8(xf, q.scale, q.zero_point)
            row["int8_conv_s"] = _best(partial(q.forward_quantized, qx, xf.dtype), args.repeats)
        seen[key] = row
    rows = list(seen.values())
    for r in rows:
        i8, ic = r["int8_s"], r["int8_conv_s"]
        print(
            f"| {r['layer']} | {r['in']} | {r['out']} | {r['kernel']}x{r['kernel']}/{r['stride']}"
            f"{'' if r['groups'] == 1 else ' dw'} | {r['input']} | {r['layers']} | {r['float_s']:.4f} | "
            + (f"{i8:.4f} | {ic:.4f} | {r['float_s'] / i8:.2f} |" if i8 else "- | - | - |"),
            flush=True,
        )
    if args.json:
        _write_result(args.json, "int8-layers", rows, variant=args.variant, size=args.size, float_dtype=str(dtype))
