"""The ``rdafnet`` command."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ._version import __version__
from .precision import PRECISIONS


def _cmd_make_pairs(a: argparse.Namespace) -> int:
    from .data.make import pairs_from_frames, pairs_from_sharp, write_pairs
    if a.frames:
        it = pairs_from_frames(a.frames, n_min=a.n_min, n_max=a.n_max, seed=a.seed)
    else:
        own = {"shake": ("max_length", "noise_p", "jpeg_p"), "camera": ("max_speed",)}
        for motion, names in own.items():
            for k in names:
                if motion != a.motion and getattr(a, k) is not None:
                    raise SystemExit(f"--{k.replace('_', '-')} applies to --motion {motion}, not {a.motion}")
        blur = {k: v for k in own[a.motion] if (v := getattr(a, k)) is not None}
        if a.motion == "camera":
            blur.update(n_min=a.n_min, n_max=a.n_max)
        it = pairs_from_sharp(a.sharp, per_image=a.per_image, seed=a.seed, max_side=a.max_side,
                              motion=a.motion, **blur)
    n = write_pairs(it, a.out, overwrite=a.overwrite)
    print(f"wrote {n} pairs to {a.out}")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    from .data.pairs import PairedImages, find_pairs
    from .train.trainer import TrainConfig, Trainer
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    pairs = [p for d in a.data for p in find_pairs(d)]
    train_set = PairedImages(pairs, crop=a.crop, seed=a.seed)
    val = [p for d in (a.val or []) for p in find_pairs(d)]
    torch.manual_seed(a.seed)          # the initial weights are part of a reproducible run
    if a.from_model:
        from .hub import from_pretrained
        if a.width or a.blocks:
            raise SystemExit("--width and --blocks shape a new model (--variant); a model given with --from "
                             "keeps its own architecture: drop them, or train a new one with --variant")
        model = from_pretrained(a.from_model)
    else:
        from .models import build
        model = build(a.variant, **({"width": a.width} if a.width else {}),
                      **({"num_blocks": a.blocks} if a.blocks else {}))
    cfg = TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, grad_clip=a.grad_clip or None,
                      ema=a.ema, val_every=a.val_every, ckpt_every=a.ckpt_every, ckpt_minutes=a.ckpt_minutes,
                      max_minutes=a.max_minutes, num_workers=a.workers, seed=a.seed, amp=not a.fp32,
                      extra={"command": shlex.join(["rdafnet", *a.argv])})
    if a.threads:
        torch.set_num_threads(a.threads)
    metrics = Trainer(model, train_set, a.out, cfg, val_pairs=val, device=a.device).fit()
    print({k: round(v, 4) for k, v in metrics.items()})
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _cmd_eval(a: argparse.Namespace) -> int:
    import numpy as np

    from .data.pairs import find_pairs
    from .hub import from_pretrained
    from .train.trainer import evaluate
    model = from_pretrained(a.model, device=a.device)
    try:
        rows = evaluate(model, find_pairs(a.data), device=next(model.parameters()).device,
                        out_dir=a.out, overwrite=a.overwrite)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'image':48s} {'PSNR in':>8s} {'PSNR out':>9s} {'SSIM in':>8s} {'SSIM out':>9s}")
    for r in rows:
        print(f"{r['image'][:48]:48s} {r['psnr_blur']:8.2f} {r['psnr']:9.2f} {r['ssim_blur']:8.4f} {r['ssim']:9.4f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr_blur", "psnr", "ssim_blur", "ssim")}
    print(f"{'mean':48s} {mean['psnr_blur']:8.2f} {mean['psnr']:9.2f} {mean['ssim_blur']:8.4f} {mean['ssim']:9.4f}")
    return 0


def _expand_inputs(inputs: list[str]) -> list[Path]:
    import glob

    from .io import IMAGE_SUFFIXES
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            files += sorted(Path(f) for f in glob.glob(item, recursive=True) if Path(f).is_file())
        else:
            files.append(p)
    return files


def _cmd_deblur(a: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .hub import from_pretrained
    from .inference import deblur, resolve_device
    from .io import ImageReadError, read_image, write_image
    from .ops import optimize, set_norm_window
    files = _expand_inputs(a.inputs)
    if not files:
        print("error: no input images found", file=sys.stderr)
        return 2
    out_dir = Path(a.out)
    sources: dict[Path, Path] = {}
    for f in files:
        target = out_dir / f.name
        if target.resolve() == f.resolve():
            print(f"error: the output for {f} would replace the input itself; choose another -o folder",
                  file=sys.stderr)
            return 2
        if target in sources:
            if sources[target].resolve() == f.resolve():
                continue                 # the same file named twice (a folder and a glob, say)
            print(f"error: {sources[target]} and {f} would both be written to {target}; "
                  "restore them into separate -o folders", file=sys.stderr)
            return 2
        sources[target] = f
    model = optimize(from_pretrained(a.model, device=resolve_device(a.device)), precision=a.precision)
    if a.norm_window:
        set_norm_window(model, a.norm_window)
    failed, skipped, done = [], 0, 0
    for target, f in tqdm(sources.items(), desc="images", unit="img", disable=len(files) < 2):
        if target.exists() and not a.overwrite:
            skipped += 1
            continue
        try:
            image = read_image(f)
        except ImageReadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(f)
            continue
        big = a.tile and max(image.shape[:2]) > 2 * a.tile
        result = deblur(image[..., 0] if image.shape[2] == 1 else image, model, tile=a.tile,
                        overlap=a.overlap, batch_size=a.batch_size, progress=bool(big))
        write_image(target, result, overwrite=a.overwrite)
        done += 1
    print(f"{done} restored, {skipped} skipped (exist; --overwrite replaces), {len(failed)} failed -> {out_dir}")
    return 1 if failed else 0


def _cmd_convert(a: argparse.Namespace) -> int:
    from .convert import load_official
    out = Path(a.out)
    if (out / "model.safetensors").exists() and not a.overwrite:
        print(f"error: {out} already holds a model; pass --overwrite to replace it", file=sys.stderr)
        return 1
    model = load_official(a.checkpoint)
    model.save_pretrained(out)
    print(f"converted {a.checkpoint} ({model.variant}) -> {out} (config.json, model.safetensors, README.md)")
    return 0


def _cmd_export_onnx(a: argparse.Namespace) -> int:
    from .export import export_onnx
    from .hub import from_pretrained
    try:
        model = from_pretrained(a.model)
        path = export_onnx(model, a.out, opset=a.opset, overwrite=a.overwrite)
    except (FileExistsError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"exported {a.model or (model.pretrained or {}).get('name')} -> {path} "
          "(input 'blurry', output 'sharp': float32 (B, 3, H, W) in [0, 1], any B, H, W)")
    return 0


def _cmd_list(a: argparse.Namespace) -> int:
    from .hub import list_pretrained
    from .models import describe_model, list_models
    print("pretrained models (rdafnet.from_pretrained(NAME)):")
    for name, desc in list_pretrained().items():
        print(f"  {name:28s} {desc}")
    print("architectures (rdafnet.build(NAME), random weights):")
    for name in list_models():
        print(f"  {name:28s} {describe_model(name)}")
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    import json

    from .hub import from_pretrained
    from .profile import profile
    model = from_pretrained(a.model)
    print(json.dumps({"pretrained": model.pretrained, "config": model.config}, indent=2))
    print(profile(model, (720, 1280)))
    return 0


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rdafnet", description="RDAFNet motion deblurring")
    p.add_argument("--version", action="version", version=f"rdafnet {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("make-pairs", help="write blurry/sharp training pairs from video frames or sharp photos")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of consecutive high-frame-rate frames (GoPro-style averaging)")
    src.add_argument("--sharp", help="folder of sharp photographs (synthetic camera shake)")
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--n-min", type=int, default=7)
    s.add_argument("--n-max", type=int, default=13)
    s.add_argument("--per-image", type=int, default=1)
    s.add_argument("--max-side", type=int, default=None)
    s.add_argument("--max-length", type=float, help="--sharp: longest shake in pixels (default 25)")
    s.add_argument("--noise-p", type=float, help="--sharp: share of pairs with sensor noise (default 0.7)")
    s.add_argument("--jpeg-p", type=float, help="--sharp: share of pairs JPEG-compressed (default 0.3)")
    s.add_argument("--motion", choices=["shake", "camera"], default="shake",
                   help="--sharp: a camera-shake kernel (default) or N frames of simulated camera "
                        "motion averaged like GoPro (--n-min/--n-max frames)")
    s.add_argument("--max-speed", type=float, help="--motion camera: fastest motion in pixels per frame (default 3)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_cmd_make_pairs)

    s = sub.add_parser("train", help="train or fine-tune on folders of pairs (torchrun for several GPUs)")
    s.add_argument("--data", nargs="+", required=True, help="pair folders (flat or GoPro layout) or pair lists")
    s.add_argument("--val", nargs="*", help="validation pair folders (full frames)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--variant", default="tiny")
    g.add_argument("--from", dest="from_model", help="start from a pretrained model (name, path, hub id)")
    s.add_argument("--width", type=int)
    s.add_argument("--blocks", type=int)
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--batch-size", type=int, default=4)
    s.add_argument("--crop", type=int, default=256)
    s.add_argument("--lr", type=float, default=1e-4)
    s.add_argument("--grad-clip", type=float, default=0.01, help="0 disables clipping")
    s.add_argument("--ema", type=float, default=None)
    s.add_argument("--val-every", type=int, default=500)
    s.add_argument("--ckpt-every", type=int, default=100)
    s.add_argument("--ckpt-minutes", type=_positive_float, default=5.0,
                   help="also write the checkpoint when this many minutes have passed since the last (5)")
    s.add_argument("--max-minutes", type=_positive_float, default=None,
                   help="stop cleanly after this much wall time, still writing best/ and final/")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--fp32", action="store_true", help="no bf16 autocast (used by default where bf16 is native)")
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--workers", type=int, default=0,
                   help="processes that prepare batches ahead of the model (0: the training process itself)")
    s.add_argument("--device", default=None)
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("eval", help="PSNR/SSIM of a model on a folder of pairs")
    s.add_argument("--data", required=True)
    s.add_argument("--model", default=None)
    s.add_argument("--out", default=None, help="also write the restored images here")
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--device", default=None)
    s.set_defaults(func=_cmd_eval)

    s = sub.add_parser("deblur", help="restore blurry images (files, folders, globs)")
    s.add_argument("inputs", nargs="+")
    s.add_argument("-o", "--out", required=True, help="output folder (same file names)")
    s.add_argument("--model", default=None, help="registered name, hub id, folder or file (default: bundled)")
    s.add_argument("--tile", type=int, default=None, help="tile size for large images (e.g. 512)")
    s.add_argument("--overlap", type=int, default=None, help="tile overlap (default tile/4)")
    s.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass")
    s.add_argument("--norm-window", type=int, default=None,
                   help="instance-norm statistics over this window (e.g. 256) instead of the whole image")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                   help="fp32: exact; bf16: faster than fp32 on GPUs and CPUs with AVX512-BF16/AMX, not exact, "
                        "but emulated and slower on other CPUs; fp16: GPUs only (figures: docs/performance.md)")
    s.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    s.set_defaults(func=_cmd_deblur)

    s = sub.add_parser("convert", help="turn an authors' GoPro.pth into a save_pretrained folder")
    s.add_argument("checkpoint")
    s.add_argument("out")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_cmd_convert)

    s = sub.add_parser("export-onnx", help="write a model as an ONNX file (dynamic batch and size)")
    s.add_argument("model", nargs="?", default=None, help="name, Hub repo or path (default: the bundled model)")
    s.add_argument("out", help="the .onnx file to write")
    s.add_argument("--opset", type=int, default=18)
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_cmd_export_onnx)

    s = sub.add_parser("list", help="list pretrained models and architectures")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("info", help="show a model's config, size and cost")
    s.add_argument("model", nargs="?", default=None)
    s.set_defaults(func=_cmd_info)

    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)   # recorded by `train` as the exact command
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
