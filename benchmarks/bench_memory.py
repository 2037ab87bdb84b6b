"""``bench.py memory | tiling | precision | video``: memory of tiled inference, agreement of tiles and
precisions on real frames, and video throughput."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _bench_common import (
    _real_pairs,
    _run_case,
    _write_result,
    cpu_summary,
)


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
