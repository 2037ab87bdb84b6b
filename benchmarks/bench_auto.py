"""``bench.py auto``: what the command line's default path (``rdafnet deblur``, ``--precision auto``) runs on a
720p frame, against the authors' code and each exact path, in one process with one allocator setting.

The rows are timed in rounds, each round running every row once in turn (``--rounds``, default 3), and each
row's median is reported: on a machine whose speed drifts, a slow spell then falls on every row alike.

``--isa avx2`` runs it as an AVX2-only CPU would (no AVX-512, no bf16, no VNNI): ``ATEN_CPU_CAPABILITY=avx2``
and ``ONEDNN_MAX_CPU_ISA=AVX2`` for the kernels, and bf16 and int8 reported as not native, as such a CPU
reports them. The process starts itself again with those settings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from _bench_common import _write_result, as_isa, cpu_summary


def auto(args: argparse.Namespace) -> None:
    as_isa(args.isa)
    import numpy as np
    import torch

    import rdafnet
    from rdafnet.cli import main as cli
    from rdafnet.layers.fastconv import winograd_available

    torch.set_grad_enabled(False)
    rdafnet.ops.keep_freed_memory()  # as the command line does, for every row
    h, w = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    model = rdafnet.build(args.variant).eval()  # random weights: the time does not depend on them
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    frame = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    paths = {"authors' code (reference-keep)": model, "exact, direct (optimized-keep)": rdafnet.optimize(model)}
    if winograd_available():
        paths["exact, Winograd (optimized-winograd-keep)"] = rdafnet.optimize(model, conv="winograd")
    for fn in paths.values():
        fn(x[..., :64, :64])  # warm-up on a small input (kernel caches)
    with tempfile.TemporaryDirectory() as tmp:
        saved, src = Path(tmp) / "model", Path(tmp) / "frame.png"
        model.save_pretrained(saved)
        rdafnet.io.write_image(src, frame)
        os.environ["RDAFNET_CACHE"] = str(Path(tmp) / "cache")  # auto measures here, in this run
        t = time.perf_counter()
        chosen = rdafnet.ops.fastest(rdafnet.from_pretrained(saved), size=(h, w))
        measure_s = time.perf_counter() - t
        record = next(iter(json.loads((Path(tmp) / "cache" / "auto_precision.json").read_text()).values()))
        print(f"auto measured in {measure_s:.1f} s at {', '.join(record['seconds'])}: {chosen}", flush=True)
        cli_label = f"rdafnet deblur, default options ({chosen['precision']}, {chosen['conv']})"
        times: dict[str, list[float]] = {label: [] for label in [*paths, cli_label]}
        for i in range(args.rounds):
            for label, fn in paths.items():
                t = time.perf_counter()
                fn(x)
                times[label].append(time.perf_counter() - t)
            t = time.perf_counter()
            assert cli(["deblur", str(src), "-o", str(Path(tmp) / f"out{i}"), "--model", str(saved)]) == 0
            times[cli_label].append(time.perf_counter() - t)
            print(f"round {i + 1}: " + ", ".join(f"{v[-1]:.2f}" for v in times.values()), flush=True)
    rows = [
        {"path": k, "seconds": round(statistics.median(v), 2), "rounds": [round(s, 2) for s in v]}
        for k, v in times.items()
    ]
    ref = rows[0]["seconds"]
    exact = min(r["seconds"] for r in rows[1:-1])
    print(
        f"\nCPU: {cpu_summary()}; isa {args.isa}; {args.variant} at {w}x{h}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; keep_freed_memory on every row; median of {args.rounds} rounds\n"
    )
    print("| path | s | vs authors | vs fastest exact | each round s |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        r["x_vs_reference"], r["vs_fastest_exact"] = round(ref / r["seconds"], 2), round(exact / r["seconds"], 3)
        print(
            f"| {r['path']} | {r['seconds']:.2f} | {r['x_vs_reference']:.2f}x | {r['vs_fastest_exact']:.3f} | "
            f"{', '.join(map(str, r['rounds']))} |"
        )
    if args.json:
        _write_result(
            args.json,
            "auto",
            rows,
            isa=args.isa,
            variant=args.variant,
            size=args.size,
            rounds=args.rounds,
            auto_measure_s=round(measure_s, 1),
            auto_record=record,
        )
