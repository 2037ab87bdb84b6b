"""Benchmarks (not tests): speed of the inference paths, memory of tiled inference, and the
agreement of tiled and full-frame output on real frames.

    python benchmarks/bench.py speed  [--variants single-stage tiny] [--sizes 256x256 720x1280]
    python benchmarks/bench.py memory [--sizes 720x1280 1080x1920 2160x3840] [--tile 512]
    python benchmarks/bench.py tiling [--data ../shared/data]
    python benchmarks/bench.py precision [--models bundled PATH ...]
    python benchmarks/bench.py video  [--frames 24] [--size 720x1280]

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
    return 2 * n ** 3 * 5 / (time.perf_counter() - t) / 1e9


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
    from rdafnet.inference import restore_tensor
    torch.set_grad_enabled(False)
    model = _model(args.variant, args.pretrained)
    h, w = args.h, args.w
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    # path = reference | optimized | compiled (inductor on the reference model) | onnx (onnxruntime
    # on the rdafnet.export_onnx graph), then optional suffixes: -bf16 and -compiled (optimized only), -tiled
    kind, *flags = args.path.split("-")
    if kind not in ("reference", "optimized", "compiled", "onnx") or set(flags) - {"bf16", "compiled", "tiled", "auto"}:
        raise SystemExit(f"unknown path {args.path}")
    if kind != "optimized" and {"bf16", "compiled"} & set(flags):
        raise SystemExit(f"-bf16 and -compiled apply to the optimized path only, not {kind}")
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
        run_model = rdafnet.optimize(model, precision="bf16" if "bf16" in flags else "fp32")
        if "compiled" in flags:
            run_model = torch.compile(run_model, dynamic=False)
    if kind == "onnx":
        run = lambda t=x: run_model(t)  # noqa: E731
    else:
        # "-auto": the memory guard decides (the library's default); otherwise whole frames are forced
        budget = None if "auto" in flags else 2 ** 62
        run = lambda t=x: restore_tensor(t, run_model, tile=tile, overlap=args.overlap,  # noqa: E731
                                         batch_size=args.batch, max_memory=budget)
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
    out = {"median_s": statistics.median(times), "peak_rss_mb": _rss_mb(), "rss_before_mb": base,
           "warmup_s": warm, "n": args.repeats}
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
    peaks = {"fp32": _matmul_peak_gflops(), "bf16": _matmul_peak_gflops(dtype=torch.bfloat16)
             if bf16_native("cpu") else None}
    bf16_peak = f"{peaks['bf16']:.0f} GFLOP/s" if peaks["bf16"] else "emulated (no native bf16)"
    print(f"matrix-product peaks measured now: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {bf16_peak}; "
          f"threads: {torch.get_num_threads()}")
    print("| variant | size | path | median s | x vs reference | peak RSS MB | GFLOP/s | % of mm peak (own dtype) "
          "| max abs diff vs reference | PSNR vs reference |")
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
                extra = [variant, str(h), str(w), path, "--repeats", str(rep), "--tile", str(args.tile),
                         "--overlap", str(args.overlap), "--batch", str(args.batch)]
                extra += ["--save", ref_file] if path == "reference" else ["--compare", ref_file]
                r = _run_case(extra)
                if "error" in r:
                    print(f"| {variant} | {size} | {path} | failed: {r['error'][:60]} | | | | | |", flush=True)
                    continue
                base = r["median_s"] if path == "reference" else base
                gf = 2 * macs / r["median_s"] / 1e9
                peak = peaks["bf16" if "bf16" in path else "fp32"]
                share = f"{100 * gf / peak:.0f}%" if peak else "-"
                ratio = f"{base / r['median_s']:.2f}" if base else "-"
                diff = f"{r['max_abs_diff']:.2e}" if "max_abs_diff" in r else "-"
                db = f"{r['psnr_vs_reference']:.1f}" if "psnr_vs_reference" in r else "-"
                print(f"| {variant} | {size} | {path} | {r['median_s']:.2f} | {ratio} | {r['peak_rss_mb']:.0f} | "
                      f"{gf:.0f} | {share} | {diff} | {db} |", flush=True)


def memory(args: argparse.Namespace) -> None:
    import rdafnet
    from rdafnet.inference import frame_bytes, memory_budget
    model = rdafnet.from_pretrained()
    ram = memory_budget(torch.device("cpu")) * 2
    print(f"bundled model, optimized path; peak RSS of the whole process; available RAM {ram / 2**30:.1f} GiB")
    print("| size | megapixels | path | median s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    for size in args.sizes:
        h, w = map(int, size.split("x"))
        for label, path in (("whole frame", "optimized"), ("default (memory guard)", "optimized-auto"),
                            (f"tile {args.tile}, overlap {args.overlap}", "optimized-tiled")):
            need = frame_bytes(model, h, w)
            if path == "optimized" and need > 0.8 * ram:       # would be killed, and take the machine with it
                print(f"| {size} | {h * w / 1e6:.0f} | {label} | not run: needs about {need / 2**30:.0f} GiB | |")
                continue
            extra = ["bundled", str(h), str(w), path, "--pretrained", "--repeats", str(args.repeats),
                     "--tile", str(args.tile), "--overlap", str(args.overlap), "--batch", "4"]
            r = _run_case(extra)
            if "error" in r:
                print(f"| {size} | {h * w / 1e6:.0f} | {label} | failed: {r['error'][:60]} | |", flush=True)
            else:
                print(f"| {size} | {h * w / 1e6:.0f} | {label} | {r['median_s']:.2f} | {r['peak_rss_mb']:.0f} |",
                      flush=True)


def tiling(args: argparse.Namespace) -> None:
    import numpy as np

    import rdafnet
    from rdafnet.io import read_image
    from rdafnet.metrics import psnr
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
        row = [psnr(blur, sharp), psnr(full, sharp), psnr(tiled, sharp), psnr(full_l, sharp), psnr(tiled_l, sharp),
               psnr(tiled, full), psnr(tiled_l, full_l)]
        acc.append(row)
        print(f"| {Path(b).stem[:40]} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{v:.2f}**" for v in np.mean(acc, axis=0)) + " |")


def precision(args: argparse.Namespace) -> None:
    """bf16 against fp32 on real frames with trained weights."""
    import numpy as np

    import rdafnet
    from rdafnet.io import read_image
    from rdafnet.metrics import psnr
    pairs = _real_pairs(Path(args.data))
    print("| model | image | blurry vs sharp | fp32 vs sharp | bf16 vs sharp | bf16 vs fp32 (dB) | max abs diff (8-bit levels) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        model = rdafnet.from_pretrained(None if name == "bundled" else name)
        f32, b16 = rdafnet.optimize(model), rdafnet.optimize(model, precision="bf16")
        acc = []
        for b, s in pairs:
            blur, sharp = read_image(b), read_image(s)
            y32, y16 = rdafnet.deblur(blur, f32), rdafnet.deblur(blur, b16)
            d = int(np.abs(y32.astype(int) - y16.astype(int)).max())
            row = [psnr(blur, sharp), psnr(y32, sharp), psnr(y16, sharp), psnr(y16, y32), d]
            acc.append(row)
            print(f"| {Path(name).name} | {Path(b).stem[:40]} | " + " | ".join(f"{v:.2f}" for v in row[:4])
                  + f" | {d} |", flush=True)
        m = np.mean(acc, axis=0)
        print(f"| {Path(name).name} | **mean** (min bf16 vs fp32: {min(r[3] for r in acc):.2f}) | "
              + " | ".join(f"**{v:.2f}**" for v in m[:4]) + f" | {max(r[4] for r in acc)} |")


def video(args: argparse.Namespace) -> None:
    """End-to-end frames/s of ``deblur_video`` (decode, restore, encode) against restoring the same
    decoded frames alone, for the bundled default on this machine."""
    import av
    import numpy as np

    import rdafnet
    from rdafnet.io import read_image
    h, w = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp())
    sample = read_image(rdafnet.SAMPLE_IMAGE)
    sample = np.pad(sample, ((0, max(0, h - sample.shape[0])), (0, max(0, w - sample.shape[1]) + 2 * args.frames),
                             (0, 0)), mode="reflect")
    clip = tmp / "clip.mp4"
    with av.open(str(clip), "w") as out:             # a pan over the sample frame, crf 18
        v = out.add_stream("libx264", rate=30, options={"crf": "18"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        for i in range(args.frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(sample[:h, 2 * i:2 * i + w]), format="rgb24")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode())
    model = rdafnet.optimize(rdafnet.from_pretrained(), precision=args.precision)
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    rdafnet.deblur(frames[0], model)                  # warm-up
    t = time.perf_counter()
    for f in frames:
        rdafnet.deblur(f, model)
    alone = time.perf_counter() - t
    t = time.perf_counter()
    rdafnet.deblur_video(clip, tmp / "out.mp4", model)
    end_to_end = time.perf_counter() - t
    print(f"bundled default, {args.precision}, {args.frames} frames of {w}x{h}, threads {torch.get_num_threads()}")
    print("| path | seconds | frames/s | vs restore alone |")
    print("| --- | --- | --- | --- |")
    print(f"| restore alone (decoded frames in memory) | {alone:.1f} | {args.frames / alone:.2f} | 1.00 |")
    print(f"| deblur_video (decode, restore, encode, join) | {end_to_end:.1f} | {args.frames / end_to_end:.2f} | "
          f"{alone / end_to_end:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--variants", nargs="+", default=["single-stage", "multi-stage", "tiny"])
    s.add_argument("--sizes", nargs="+", default=["256x256", "720x1280"])
    s.add_argument("--paths", nargs="+", default=["reference", "optimized", "reference-tiled", "optimized-tiled",
                                                  "compiled-tiled", "optimized-bf16", "optimized-bf16-tiled"],
                   help="reference | optimized | compiled | onnx, with optional -bf16, -compiled (optimized "
                        "only) and -tiled (not onnx) suffixes")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--big-repeats", type=int, default=1, help="repeats for the paper-sized nets at full frames")
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=32)
    s.add_argument("--batch", type=int, default=1, help="tiles per forward pass (1 keeps CPU tensors cache-sized)")
    s.set_defaults(func=speed)
    s = sub.add_parser("memory")
    s.add_argument("--sizes", nargs="+", default=["720x1280", "1080x1920", "2160x3840"])
    s.add_argument("--tile", type=int, default=512)
    s.add_argument("--overlap", type=int, default=64)
    s.add_argument("--repeats", type=int, default=1)
    s.set_defaults(func=memory)
    s = sub.add_parser("tiling")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=64)
    s.add_argument("--window", type=int, default=256)
    s.set_defaults(func=tiling)
    s = sub.add_parser("precision")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--models", nargs="+", default=["bundled"], help="'bundled', registered names or paths")
    s.set_defaults(func=precision)
    s = sub.add_parser("video")
    s.add_argument("--frames", type=int, default=24)
    s.add_argument("--size", default="720x1280")
    s.add_argument("--precision", default="fp32")
    s.set_defaults(func=video)
    s = sub.add_parser("_case")
    s.add_argument("variant")
    s.add_argument("h", type=int)
    s.add_argument("w", type=int)
    s.add_argument("path")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=32)
    s.add_argument("--batch", type=int, default=4)
    s.add_argument("--pretrained", action="store_true")
    s.add_argument("--save")
    s.add_argument("--compare")
    s.set_defaults(func=_case)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
