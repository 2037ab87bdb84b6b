"""``bench.py profile``: where the time of one pass goes, per kind of operation."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from _bench_common import (
    BENCH,
    _optimized,
    cpu_summary,
)

OP_CATEGORIES = {
    "convolution": ("mkldnn_convolution", "convolution", "_convolution", "conv2d", "addmm", "mm"),
    "instance norm": (
        "native_batch_norm",
        "batch_norm",
        "instance_norm",
        "_batch_norm_impl_index",
        "sum",
        "sub_",
        "var_mean",
        "rsqrt_",
        "div_",
        "mul_",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training",
    ),
    "attention (sigmoid)": ("sigmoid", "sigmoid_"),
    "activations": ("leaky_relu", "leaky_relu_", "relu", "relu_", "clamp_min", "clamp_min_", "tanh", "clamp"),
    "gate products, fusion and residual adds": ("mul", "add", "add_"),
    "dtype conversions": ("_to_copy", "to"),
    "copies and padding": (
        "cat",
        "copy_",
        "reflection_pad2d",
        "pad",
        "fill_",
        "slice",
        "select",
        "narrow",
        "contiguous",
        "clone",
    ),
}


def _profile_case(args: argparse.Namespace) -> None:
    """One profiled pass; prints a JSON line of seconds per category (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    import rdafnet

    torch.set_grad_enabled(False)
    kind, *flags = args.path.split("-")
    if "keep" in flags:
        rdafnet.ops.keep_freed_memory()
    torch.manual_seed(0)
    model = rdafnet.build(args.variant).eval()
    run = model if kind == "reference" else _optimized(model, flags)
    x = torch.rand(1, 3, args.h, args.w, generator=torch.Generator().manual_seed(0))
    run(x[..., :64, :64])
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(x)
    wall = time.perf_counter() - t
    cats: dict[str, float] = {}
    lookup = {op: cat for cat, ops in OP_CATEGORIES.items() for op in ops}
    for evt in prof.key_averages():
        name = evt.key.removeprefix("aten::")
        cat = lookup.get(name, "other")
        cats[cat] = cats.get(cat, 0.0) + evt.self_cpu_time_total / 1e6
    print(json.dumps({"wall_s": wall, "categories": cats}))


def profile_paths(args: argparse.Namespace) -> None:
    """Where the time goes: self CPU time per kind of op, one profiled pass per path (fresh process)."""
    h, w = map(int, args.size.split("x"))
    print(
        f"CPU: {cpu_summary()}; torch {torch.__version__}; {args.variant} at {w}x{h}, "
        f"keep_freed_memory: {args.keep_memory}"
    )
    rows = {}
    for path in args.paths:
        cmd = [
            sys.executable,
            str(BENCH),
            "_profile",
            args.variant,
            str(h),
            str(w),
            path + ("-keep" if args.keep_memory else ""),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{path}: failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        rows[path] = json.loads(res.stdout.strip().splitlines()[-1])
    cats = list(OP_CATEGORIES) + ["other"]
    print("| kind of op | " + " | ".join(f"{p} s (share)" for p in rows) + " |")
    print("| --- " * (len(rows) + 1) + "|")
    for cat in cats:
        cells = []
        for r in rows.values():
            v = r["categories"].get(cat, 0.0)
            total = sum(r["categories"].values())
            cells.append(f"{v:.2f} ({100 * v / total:.0f}%)")
        print(f"| {cat} | " + " | ".join(cells) + " |")
    print("| **wall time (profiled)** | " + " | ".join(f"**{r['wall_s']:.2f}**" for r in rows.values()) + " |")
