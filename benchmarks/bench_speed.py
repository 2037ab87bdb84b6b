"""``bench.py speed``: seconds and peak memory per inference path, each measured in a fresh process."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _bench_common import (
    BUNDLED,
    _conv_peak_gflops,
    _matmul_peak_gflops,
    _model,
    _optimized,
    _rss_mb,
    _run_case,
    _write_result,
    as_isa,
    cpu_summary,
)


def _case(args: argparse.Namespace) -> None:
    """One measurement; prints a JSON line."""
    import numpy as np

    import rdafnet
    from rdafnet.inference.tiling import restore_tensor

    torch.set_grad_enabled(False)
    if "keep" in args.path.split("-"):
        rdafnet.ops.keep_freed_memory()
    as_isa(args.isa)
    model = _model(args.variant, args.pretrained or args.variant == BUNDLED)
    if "fastest" in args.path.split("-"):  # precision="auto" measures in this case, with a cache of its own
        os.environ["RDAFNET_CACHE"] = tempfile.mkdtemp()
    h, w = args.h, args.w
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    # path = reference | optimized | compiled (inductor on the reference model) | onnx (onnxruntime
    # on the rdafnet.export_onnx graph), then optional suffixes: -bf16, -int8, -winograd (conv="winograd"),
    # -fastest (precision="auto": the path rdafnet picks here) and -compiled (optimized only), -tiled,
    # -keep (rdafnet.ops.keep_freed_memory() first, as the CLI does)
    kind, *flags = args.path.split("-")
    if kind not in ("reference", "optimized", "compiled", "onnx") or set(flags) - {
        "bf16",
        "winograd",
        "fastest",
        "compiled",
        "tiled",
        "auto",
        "keep",
        "int8",
    }:
        raise SystemExit(f"unknown path {args.path}")
    if kind != "optimized" and {"bf16", "int8", "winograd", "fastest", "compiled"} & set(flags):
        raise SystemExit(f"-bf16, -int8, -winograd, -fastest, -compiled apply to the optimized path only, not {kind}")
    tile = args.tile if "tiled" in flags else None
    if kind == "onnx":
        import onnxruntime as ort

        if tile:
            raise SystemExit("the onnx path runs whole frames only")
        onnx_file = rdafnet.export_onnx(model, Path(tempfile.mkdtemp()) / "model.onnx")
        session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        run_model = lambda t: torch.from_numpy(session.run(["sharp"], {"blurry": t.numpy()})[0])  # noqa: E731
    elif kind == "reference":
        run_model = model
    elif kind == "compiled":
        run_model = torch.compile(model, dynamic=False)
    else:
        run_model = _optimized(model, flags)
        if "compiled" in flags:
            run_model = torch.compile(run_model, dynamic=False)
    if kind == "onnx":
        run = lambda t=x: run_model(t)  # noqa: E731
    else:
        # "-auto": the memory guard decides (the library's default); otherwise whole frames are forced
        budget = None if "auto" in flags else 2**62

        def run(t: torch.Tensor = x) -> torch.Tensor:
            return restore_tensor(
                t, run_model, tile=tile, overlap=args.overlap, batch_size=args.batch, max_memory=budget
            )

    t_warm = time.perf_counter()
    side = 64 if tile is None else 2 * tile
    run(x[..., : min(h, side), : min(w, side)])
    warm = time.perf_counter() - t_warm
    base = _rss_mb()
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        y = run()
        times.append(time.perf_counter() - t)
    out = {
        "median_s": statistics.median(times),
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": base,
        "warmup_s": warm,
        "n": args.repeats,
    }
    if args.save:
        np.save(args.save, y.numpy())
    if args.compare and Path(args.compare).exists():
        ref = torch.from_numpy(np.load(args.compare))
        out["max_abs_diff"] = float((y - ref).abs().max())
        mse = float(((y - ref) ** 2).mean())
        out["psnr_vs_reference"] = float("inf") if mse == 0 else 10 * np.log10(1 / mse)
    if "fastest" in flags:  # what precision="auto" took here, and what it measured
        out["auto"] = rdafnet.ops.fastest(model)
        (record,) = json.loads((Path(os.environ["RDAFNET_CACHE"]) / "auto_precision.json").read_text()).values()
        out["auto_measured"] = record["seconds"]
    print(json.dumps(out))


#: What a case measured that the result keeps
KEPT = ("median_s", "peak_rss_mb", "max_abs_diff", "psnr_vs_reference", "auto", "auto_measured")


def _peaks(native: bool) -> tuple[dict, dict]:
    """Matrix-product and 3x3-convolution peaks in fp32, and in bf16 where it is native (emulated bf16 has no
    meaningful peak, and its products take minutes)."""
    mm = {"fp32": _matmul_peak_gflops(), "bf16": _matmul_peak_gflops(dtype=torch.bfloat16) if native else None}
    conv = {"fp32": _conv_peak_gflops(), "bf16": _conv_peak_gflops(torch.bfloat16) if native else None}
    return mm, conv


def speed(args: argparse.Namespace) -> None:
    as_isa(args.isa)
    import rdafnet
    from rdafnet.ops import bf16_native

    native = bf16_native("cpu")
    peaks, convs = _peaks(native)
    print(f"CPU: {cpu_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    for dt in ("fp32", "bf16"):
        if peaks[dt] is None:
            print(f"{dt}: emulated (no native bf16): no peak measured")
        else:
            print(
                f"{dt} peaks measured now: matrix product {peaks[dt]:.0f} GFLOP/s, 3x3 convolution "
                f"(128 channels, channels-last) {convs[dt]:.0f} GFLOP/s"
            )
    results: list[dict] = []
    print(
        "| variant | size | path | median s | x vs reference | peak RSS MB | GFLOP/s | % of conv peak (own dtype) "
        "| max abs diff vs reference | PSNR vs reference |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    tmp = tempfile.mkdtemp()
    for variant in args.variants:
        for size in args.sizes:
            h, w = map(int, size.split("x"))
            macs = rdafnet.profile(_model(variant, variant == BUNDLED), (h, w)).macs
            ref_file = os.path.join(tmp, f"{variant}-{size}.npy")
            base = None
            for path in args.paths:
                rep = args.repeats if h * w <= 256 * 256 or variant in ("tiny", "small") else args.big_repeats
                extra = [
                    variant,
                    str(h),
                    str(w),
                    path,
                    "--repeats",
                    str(rep),
                    "--tile",
                    str(args.tile),
                    "--overlap",
                    str(args.overlap),
                    "--batch",
                    str(args.batch),
                    "--isa",
                    args.isa,
                ]
                is_ref = base is None and path.split("-")[0] == "reference"  # the first reference path is the baseline
                extra += ["--save", ref_file] if is_ref else ["--compare", ref_file]
                r = _run_case(extra)
                if "error" in r:
                    print(f"| {variant} | {size} | {path} | failed: {r['error'][:60]} | | | | | |", flush=True)
                    continue
                base = r["median_s"] if is_ref else base
                gf = 2 * macs / r["median_s"] / 1e9
                # (-fastest: the precision is chosen inside the case, so no peak to compare with)
                peak = None if "fastest" in path or "int8" in path else convs["bf16" if "bf16" in path else "fp32"]
                share = f"{100 * gf / peak:.0f}%" if peak else "-"
                ratio = f"{base / r['median_s']:.2f}" if base else "-"
                diff = f"{r['max_abs_diff']:.2e}" if "max_abs_diff" in r else "-"
                db = f"{r['psnr_vs_reference']:.1f}" if "psnr_vs_reference" in r else "-"
                print(
                    f"| {variant} | {size} | {path} | {r['median_s']:.2f} | {ratio} | {r['peak_rss_mb']:.0f} | "
                    f"{gf:.0f} | {share} | {diff} | {db} |",
                    flush=True,
                )
                results.append(
                    {
                        "variant": variant,
                        "size": size,
                        "path": path,
                        "baseline": is_ref,
                        **{k: r[k] for k in KEPT if k in r},
                        "speedup": base / r["median_s"] if base else None,
                        "gflops": gf,
                    }
                )
    _, after = _peaks(native)  # the peak is the highest rate seen: measured again once the cases are done
    convs = {k: max(v, after[k]) if v else v for k, v in convs.items()}
    print("3x3 convolution peaks, the higher of before and after the cases: " + str(convs))
    if args.json:
        _write_result(args.json, "speed", results, isa=args.isa, conv_peak_gflops=convs)
