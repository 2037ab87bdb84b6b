"""Benchmarks (not tests): speed of the inference paths, memory of tiled inference, and the
agreement of tiled and full-frame output on real frames.

    python benchmarks/bench.py speed  [--variants single-stage tiny] [--sizes 256x256 720x1280]
    python benchmarks/bench.py memory [--sizes 720x1280 1080x1920 2160x3840] [--tile 512]
    python benchmarks/bench.py tiling [--data ../shared/data]
    python benchmarks/bench.py precision [--models bundled PATH ...]
    python benchmarks/bench.py video  [--frames 24] [--size 720x1280]
    python benchmarks/bench.py profile [--variant single-stage] [--size 720x1280] [--paths ...]

Each measurement runs in a fresh subprocess so that its peak resident memory is its own.
Times are medians of ``--repeats`` runs after a warm-up on a small input.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _matmul_peak_gflops(n: int = 2048, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 2 * n**3 * 5 / (time.perf_counter() - t) / 1e9


def _conv_peak_gflops(dtype: torch.dtype = torch.float32, c: int = 128, h: int = 180, w: int = 320) -> float:
    """A channels-last 3x3 convolution with the networks' feature width (128 channels)."""
    x = torch.randn(1, c, h, w).to(memory_format=torch.channels_last, dtype=dtype)
    wt = torch.randn(c, c, 3, 3).to(memory_format=torch.channels_last, dtype=dtype)
    with torch.no_grad():
        torch.nn.functional.conv2d(x, wt, padding=1)
        t = time.perf_counter()
        for _ in range(5):
            torch.nn.functional.conv2d(x, wt, padding=1)
    return 2 * c * c * 9 * h * w * 5 / (time.perf_counter() - t) / 1e9


def cpu_summary() -> str:
    """The CPU model and the instruction sets that decide which precision is fast."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    have = [
        name
        for flag, name in (
            ("amx_bf16", "AMX-BF16"),
            ("amx_fp16", "AMX-FP16"),
            ("avx512_bf16", "AVX512-BF16"),
            ("avx512f", "AVX-512"),
            ("avx2", "AVX2"),
        )
        if flag in flags
    ]
    return f"{model}; {', '.join(have) or 'no AVX2'}; {os.cpu_count()} cores"


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _real_pairs(data: Path) -> list:
    """The GoPro test frame and the 11 GoPro training pairs of ``../shared/data``."""
    from rdafnet.data import find_pairs

    return find_pairs(data / "gopro_dev") + find_pairs(data / "gopro_train_pairs")


def _model(variant: str, pretrained: bool):
    import rdafnet

    if pretrained:
        return rdafnet.from_pretrained()
    torch.manual_seed(0)
    return rdafnet.build(variant).eval()


def _case(args: argparse.Namespace) -> None:
    """One measurement; prints a JSON line."""
    import numpy as np

    import rdafnet
    from rdafnet.inference.tiling import restore_tensor

    torch.set_grad_enabled(False)
    if "keep" in args.path.split("-"):
        rdafnet.ops.keep_freed_memory()
    model = _model(args.variant, args.pretrained)
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
    print(json.dumps(out))


def _run_case(extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "_case", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def speed(args: argparse.Namespace) -> None:
    import rdafnet
    from rdafnet.ops import bf16_native

    # emulated bf16 has no meaningful peak (and six 2048^3 products take over a minute): no % for its rows
    native = bf16_native("cpu")
    peaks = {"fp32": _matmul_peak_gflops(), "bf16": _matmul_peak_gflops(dtype=torch.bfloat16) if native else None}
    convs = {"fp32": _conv_peak_gflops(), "bf16": _conv_peak_gflops(torch.bfloat16) if native else None}
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
            macs = rdafnet.profile(rdafnet.build(variant), (h, w)).macs
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
                        **{k: r[k] for k in ("median_s", "peak_rss_mb", "max_abs_diff", "psnr_vs_reference") if k in r},
                        "speedup": base / r["median_s"] if base else None,
                        "gflops": gf,
                    }
                )
    if args.json:
        _write_result(args.json, "speed", results, conv_peak_gflops=convs)


JSON_HELP = "also write the rows as JSON (benchmarks/results/, read by tables.py)"


def _write_result(path: str, kind: str, rows: list[dict], **facts) -> None:
    """A benchmark result for ``benchmarks/tables.py``: the machine, the command and the rows, as JSON."""
    import datetime

    record = {
        "kind": kind,
        "cpu": cpu_summary(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/bench.py " + " ".join(sys.argv[1:]),
        **facts,
        "rows": rows,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


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


def _best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def memory(args: argparse.Namespace) -> None:
    import rdafnet
    from rdafnet.inference.tiling import frame_bytes, memory_budget

    model = rdafnet.from_pretrained()
    ram = memory_budget(torch.device("cpu")) * 2
    print(f"bundled model, optimized path; peak RSS of the whole process; available RAM {ram / 2**30:.1f} GiB")
    print("| size | megapixels | path | median s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    rows: list[dict] = []
    for size in args.sizes:
        h, w = map(int, size.split("x"))
        for label, path in (
            ("whole frame", "optimized"),
            ("default (memory guard)", "optimized-auto"),
            (f"tile {args.tile}, overlap {args.overlap}", "optimized-tiled"),
        ):
            need = frame_bytes(model, h, w)
            if path == "optimized" and need > 0.8 * ram:  # would be killed, and take the machine with it
                print(f"| {size} | {h * w / 1e6:.0f} | {label} | not run: needs about {need / 2**30:.0f} GiB | |")
                rows.append({"size": size, "path": path, "label": label, "skipped_gib": need / 2**30})
                continue
            extra = [
                "bundled",
                str(h),
                str(w),
                path,
                "--pretrained",
                "--repeats",
                str(args.repeats),
                "--tile",
                str(args.tile),
                "--overlap",
                str(args.overlap),
                "--batch",
                "4",
            ]
            r = _run_case(extra)
            if "error" in r:
                print(f"| {size} | {h * w / 1e6:.0f} | {label} | failed: {r['error'][:60]} | |", flush=True)
            else:
                rows.append(
                    {
                        "size": size,
                        "path": path,
                        "label": label,
                        "median_s": r["median_s"],
                        "peak_rss_mb": r["peak_rss_mb"],
                    }
                )
                print(
                    f"| {size} | {h * w / 1e6:.0f} | {label} | {r['median_s']:.2f} | {r['peak_rss_mb']:.0f} |",
                    flush=True,
                )
    if args.json:
        _write_result(args.json, "memory", rows, ram_gib=ram / 2**30)


def tiling(args: argparse.Namespace) -> None:
    import numpy as np

    import rdafnet
    from rdafnet.evaluation.metrics import psnr
    from rdafnet.io.image import read_image

    pairs = _real_pairs(Path(args.data))
    model = rdafnet.optimize(rdafnet.from_pretrained())
    t, o = args.tile, args.overlap
    cols = ["blurry", "full", f"tiled {t}", f"full+local{args.window}", f"tiled {t}+local{args.window}"]
    print("| image | " + " | ".join(cols) + " | tiled vs full | tiled+local vs full+local |")
    print("| --- " * (len(cols) + 3) + "|")
    acc = []
    for b, s in pairs:
        blur, sharp = read_image(b), read_image(s)
        rdafnet.set_norm_window(model, None)
        full = rdafnet.deblur(blur, model)
        tiled = rdafnet.deblur(blur, model, tile=t, overlap=o)
        rdafnet.set_norm_window(model, args.window)
        full_l = rdafnet.deblur(blur, model)
        tiled_l = rdafnet.deblur(blur, model, tile=t, overlap=o)
        row = [
            psnr(blur, sharp),
            psnr(full, sharp),
            psnr(tiled, sharp),
            psnr(full_l, sharp),
            psnr(tiled_l, sharp),
            psnr(tiled, full),
            psnr(tiled_l, full_l),
        ]
        acc.append(row)
        print(f"| {Path(b).stem[:40]} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{v:.2f}**" for v in np.mean(acc, axis=0)) + " |")
    if args.json:
        keys = ("blurry", "full", "tiled", "full_local", "tiled_local", "tiled_vs_full", "tiled_local_vs_full_local")
        _write_result(
            args.json,
            "tiling",
            [{"image": Path(b).stem, **dict(zip(keys, r, strict=True))} for (b, _), r in zip(pairs, acc, strict=True)],
            tile=t,
            overlap=o,
            window=args.window,
        )


def precision(args: argparse.Namespace) -> None:
    """bf16 and int8 (where the CPU has VNNI/AMX) against fp32 on real frames with trained weights: PSNR of the
    8-bit outputs of ``deblur``, and the SNR of the correction (output minus input) in float."""
    import numpy as np

    import rdafnet
    from rdafnet.evaluation.metrics import psnr
    from rdafnet.io.image import read_image, to_float
    from rdafnet.layers.quant import int8_supported
    from rdafnet.ops.int8 import int8_error
    from rdafnet.utils.tensor import image_to_batch

    rdafnet.ops.keep_freed_memory()
    pairs = _real_pairs(Path(args.data))
    paths = ["bf16", *(["int8"] if int8_supported() else [])]
    native = "measured" if "int8" in paths else "not native here"
    print(f"CPU: {cpu_summary()}; torch {torch.__version__}; int8 {native}")
    print(
        "| model | image | blurry vs sharp | fp32 vs sharp | "
        + " | ".join(f"{p} vs sharp | {p} vs fp32 (dB) | {p} correction SNR (dB) | {p} max diff (8-bit)" for p in paths)
        + " |"
    )
    print("| --- " * (4 + 4 * len(paths)) + "|")
    rows: list[dict] = []
    for name in args.models:
        model = rdafnet.from_pretrained(None if name == "bundled" else name)
        f32 = rdafnet.optimize(model)
        fast = {p: rdafnet.optimize(model, precision=p) for p in paths}
        for b, s in pairs:
            blur, sharp = read_image(b), read_image(s)
            y32 = rdafnet.deblur(blur, f32)
            row: dict = {"model": Path(name).name, "image": Path(b).stem}
            row |= {"psnr_blurry": psnr(blur, sharp), "psnr_fp32": psnr(y32, sharp)}
            x = image_to_batch(to_float(blur))
            for p, m in fast.items():
                y = rdafnet.deblur(blur, m)
                err = int8_error(f32, m, [x])
                row |= {
                    f"psnr_{p}": psnr(y, sharp),
                    f"{p}_vs_fp32_db": psnr(y, y32),
                    f"{p}_correction_snr_db": err["correction_snr_db"],
                    f"{p}_vs_fp32_float_db": err["psnr_db"],
                    f"{p}_max_abs_diff_levels": int(np.abs(y32.astype(int) - y.astype(int)).max()),
                }
            row["max_abs_diff_levels"] = row["bf16_max_abs_diff_levels"]  # (the name older results use)
            rows.append(row)
            cells = [row["psnr_blurry"], row["psnr_fp32"]]
            print(
                f"| {row['model']} | {row['image'][:40]} | "
                + " | ".join(f"{v:.2f}" for v in cells)
                + "".join(
                    f" | {row[f'psnr_{p}']:.2f} | {row[f'{p}_vs_fp32_db']:.2f} | "
                    f"{row[f'{p}_correction_snr_db']:.2f} | {row[f'{p}_max_abs_diff_levels']}"
                    for p in paths
                )
                + " |",
                flush=True,
            )
        own = [r for r in rows if r["model"] == Path(name).name]
        for p in paths:
            db = [r[f"{p}_vs_fp32_db"] for r in own]
            snr = [r[f"{p}_correction_snr_db"] for r in own]
            print(
                f"{Path(name).name}, {p}: vs fp32 mean {np.mean(db):.2f} dB (worst {min(db):.2f}); correction SNR "
                f"mean {np.mean(snr):.2f} dB (worst {min(snr):.2f})"
            )
    if args.json:
        _write_result(args.json, "precision", rows)


def video(args: argparse.Namespace) -> None:
    """End-to-end frames/s of ``deblur_video`` (decode, restore, encode) against restoring the same
    decoded frames alone, for the bundled default on this machine."""
    import av
    import numpy as np

    import rdafnet
    from rdafnet.io.image import read_image

    h, w = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp())
    sample = read_image(rdafnet.SAMPLE_IMAGE)
    sample = np.pad(
        sample,
        ((0, max(0, h - sample.shape[0])), (0, max(0, w - sample.shape[1]) + 2 * args.frames), (0, 0)),
        mode="reflect",
    )
    clip = tmp / "clip.mp4"
    with av.open(str(clip), "w") as out:  # a pan over the sample frame, crf 18
        v = out.add_stream("libx264", rate=30, options={"crf": "18"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        for i in range(args.frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(sample[:h, 2 * i : 2 * i + w]), format="rgb24")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode())
    rdafnet.ops.keep_freed_memory()  # as `rdafnet deblur` does
    model = rdafnet.optimize(rdafnet.from_pretrained(), precision=args.precision)
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    rdafnet.deblur(frames[0], model)  # warm-up
    t = time.perf_counter()
    for f in frames:
        rdafnet.deblur(f, model)
    alone = time.perf_counter() - t
    t = time.perf_counter()
    rdafnet.deblur_video(clip, tmp / "out.mp4", model)
    end_to_end = time.perf_counter() - t
    chosen = "bf16" if getattr(model, "autocast_dtype", None) is not None else "fp32"
    print(
        f"CPU: {cpu_summary()}; bundled default, precision {args.precision} ({chosen}), keep_freed_memory, "
        f"{args.frames} frames of {w}x{h}, threads {torch.get_num_threads()}"
    )
    print("| path | seconds | frames/s | vs restore alone |")
    print("| --- | --- | --- | --- |")
    print(f"| restore alone (decoded frames in memory) | {alone:.1f} | {args.frames / alone:.2f} | 1.00 |")
    print(
        f"| deblur_video (decode, restore, encode, join) | {end_to_end:.1f} | {args.frames / end_to_end:.2f} | "
        f"{alone / end_to_end:.2f} |"
    )


#: torch.profiler op names -> what they do in these networks
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


def _optimized(model: torch.nn.Module, flags: list[str]) -> torch.nn.Module:
    """The optimized path that a path name's flags describe."""
    import rdafnet

    if "fastest" in flags:
        return rdafnet.optimize(model, precision="auto")
    if "int8" in flags:
        return rdafnet.optimize(model, precision="int8")
    return rdafnet.optimize(
        model, precision="bf16" if "bf16" in flags else "fp32", conv="winograd" if "winograd" in flags else "direct"
    )


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
            __file__,
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--variants", nargs="+", default=["single-stage", "multi-stage", "tiny"])
    s.add_argument("--sizes", nargs="+", default=["256x256", "720x1280"])
    s.add_argument(
        "--paths",
        nargs="+",
        default=[
            "reference",
            "optimized",
            "reference-tiled",
            "optimized-tiled",
            "compiled-tiled",
            "optimized-bf16",
            "optimized-bf16-tiled",
        ],
        help="reference | optimized | compiled | onnx, with optional -bf16, -compiled (optimized "
        "only), -tiled (not onnx) and -keep (rdafnet.ops.keep_freed_memory(), as the CLI) suffixes",
    )
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--big-repeats", type=int, default=1, help="repeats for the paper-sized nets at full frames")
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=32)
    s.add_argument("--batch", type=int, default=1, help="tiles per forward pass (1 keeps CPU tensors cache-sized)")
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=speed)
    s = sub.add_parser("convs")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=convs)
    s = sub.add_parser("int8-layers")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=int8_layers)
    s = sub.add_parser("memory")
    s.add_argument("--sizes", nargs="+", default=["720x1280", "1080x1920", "2160x3840"])
    s.add_argument("--tile", type=int, default=512)
    s.add_argument("--overlap", type=int, default=64)
    s.add_argument("--repeats", type=int, default=1)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=memory)
    s = sub.add_parser("tiling")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=64)
    s.add_argument("--window", type=int, default=256)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=tiling)
    s = sub.add_parser("precision")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--models", nargs="+", default=["bundled"], help="'bundled', registered names or paths")
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=precision)
    s = sub.add_parser("video")
    s.add_argument("--frames", type=int, default=24)
    s.add_argument("--size", default="720x1280")
    s.add_argument("--precision", default="auto", help="as `rdafnet deblur --precision` (default auto)")
    s.set_defaults(func=video)
    s = sub.add_parser("profile")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--paths", nargs="+", default=["reference", "optimized", "optimized-bf16"])
    s.add_argument("--keep-memory", action="store_true", help="rdafnet.ops.keep_freed_memory() first (as the CLI)")
    s.set_defaults(func=profile_paths)
    for name, func in (("_profile", _profile_case), ("_case", _case)):  # one measurement, in a fresh process
        s = sub.add_parser(name)
        s.add_argument("variant")
        s.add_argument("h", type=int)
        s.add_argument("w", type=int)
        s.add_argument("path")
        s.set_defaults(func=func)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=32)
    s.add_argument("--batch", type=int, default=4)
    s.add_argument("--pretrained", action="store_true")
    s.add_argument("--save")
    s.add_argument("--compare")
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
