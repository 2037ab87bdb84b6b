"""One prepared run on a CUDA machine: device facts, the CUDA tests, the CUDA speed table, and a
time-bounded bf16 training of the ``small`` variant whose weights come back even if the run is cut.

    python benchmarks/gpu_run.py pack [--data ../shared/data] [-o gpu_data]   # here, before the run
    python benchmarks/gpu_run.py run --out "$OUT" [--budget-s 510]             # on the CUDA machine
    python benchmarks/gpu_run.py run --out /tmp/out --tiny                      # any CPU, in seconds

The CUDA machine sees the repository and nothing beside it, so ``pack`` copies the training and
validation pairs (lossless WebP, at most ``--max-mib``) into the git-ignored ``gpu_data/``. ``run``
writes at most five files into ``--out``: ``gpu_run.log``, ``pytest.log``, ``<device>-<date>.json``
(device, test outcome, speed table) and ``train.tar`` (``best/``, ``final/``, ``log.csv``,
``val.csv``), the tar rewritten every minute while training runs. ``--tiny`` runs every step on the
CPU with tiny models, frames and budgets, so that a typo cannot waste the real run.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from _bench_common import Tee, timed

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))  # the CUDA machine runs the checkout as it is, uninstalled

#: The split (docs/training.md): validation frames come from scenes the training data does not hold
#: (GOPR0384_11_02, and the GoPro test frame GOPR0396_11_00), plus one unseen frame of a seen scene.
VAL_FRAMES = ("GOPR0384_11_02_st_frame-698", "GOPR0374_11_00_st_frame-802")
LAST_TRAIN_FRAME_0372 = 104  # GOPR0372_07_00 frames 000047-000104 train; 000112-000129 are kept out


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------- pack
def split_pairs(data: Path) -> tuple[list, list]:
    """(train, val) pairs of ``../shared/data`` for the split above."""
    from rdafnet.data import find_pairs

    train, val = [], find_pairs(data / "gopro_dev")
    for b, s in find_pairs(data / "gopro_train_pairs"):
        (val if b.name.startswith(VAL_FRAMES) else train).append((b, s))
    train += [
        (b, s) for b, s in find_pairs(data / "gopro_train_GOPR0372_07_00") if int(b.stem) <= LAST_TRAIN_FRAME_0372
    ]
    return train, val


def _webp(path: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    with Image.open(path) as im:
        im.convert("RGB").save(buf, format="WEBP", lossless=True, quality=100, method=4)
    return buf.getvalue()


def pack(args: argparse.Namespace) -> None:
    from rdafnet.data import check_training_scenes, scene_of

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty; remove it first")
    train, val = split_pairs(Path(args.data))
    check_training_scenes(train)
    budget = args.max_mib * 2**20
    manifest, used = [], 0
    # validation first, then the training pairs spread evenly over the list until the budget is used
    order = [("val", p) for p in val] + [("train", train[i]) for i in _spread(len(train))]
    for part, (b, s) in order:
        blobs = [_webp(b), _webp(s)]
        if used + sum(map(len, blobs)) > budget:
            log(f"budget of {args.max_mib} MiB reached: {b.name} and later pairs left out")
            continue
        used += sum(map(len, blobs))
        for kind, src, blob in zip(("blur", "sharp"), (b, s), blobs, strict=True):
            dst = out / part / scene_of(b) / kind / (Path(src).stem + ".webp")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(blob)
            manifest.append(
                {"file": str(dst.relative_to(out)), "source": str(src), "sha256": hashlib.sha256(blob).hexdigest()}
            )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    n = {part: sum(1 for m in manifest if m["file"].startswith(part)) // 2 for part in ("train", "val")}
    log(f"packed {n['train']} training and {n['val']} validation pairs, {used / 2**20:.1f} MiB, into {out}")


def _spread(n: int) -> list[int]:
    """0..n-1 ordered so that every prefix is spread evenly over the range (bit-reversal order)."""
    bits = max(1, (n - 1).bit_length())
    rev = sorted(range(2**bits), key=lambda i: int(f"{i:0{bits}b}"[::-1], 2))
    return [i for i in rev if i < n]


# ----------------------------------------------------------------------------------------- run
def device_facts(device) -> dict:
    import numpy
    import PIL
    import safetensors
    import torch

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "safetensors": safetensors.__version__,
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    try:
        import triton

        facts["triton"] = triton.__version__
    except ImportError:
        facts["triton"] = None
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        facts.update(
            gpu=p.name,
            gpu_memory_gib=round(p.total_memory / 2**30, 1),
            capability=f"{p.major}.{p.minor}",
            tf32_conv=torch.backends.cudnn.allow_tf32,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        )
    return facts


def run_tests(out: Path, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests"]
    t = time.time()
    try:
        res = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        text, code = res.stdout + res.stderr, res.returncode
    except subprocess.TimeoutExpired as exc:
        text, code = f"{exc.stdout or ''}{exc.stderr or ''}\ntimed out after {timeout:.0f} s", "timeout"
        text = text if isinstance(text, str) else text.decode(errors="replace")
    (out / "pytest.log").write_text(text)
    summary = next(
        (line for line in reversed(text.splitlines()) if re.search(r"passed|failed|skipped|error", line)), ""
    )
    log(f"tests ({time.time() - t:.0f} s, exit {code}): {summary}")
    return {"exit": code, "summary": summary, "seconds": round(time.time() - t, 1)}


def speed_table(device, *, variants, size, tile, repeats, budget_s, compile_paths=True) -> list[dict]:
    """Every inference path on one frame, each against the reference eager fp32 path of the same run:
    first the eager paths of every variant, then the compiled ones (slow to compile, so last)."""
    import math

    import torch

    import rdafnet
    from rdafnet.inference.tiling import restore_tensor

    h, w = size
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    makers = {
        "reference": lambda m: m,
        "optimized": lambda m: rdafnet.optimize(m),
        "optimized-bf16": lambda m: rdafnet.optimize(m, precision="bf16"),
        "optimized-fp16": lambda m: rdafnet.optimize(m, precision="fp16"),
        f"optimized-tiled{tile}": lambda m: rdafnet.optimize(m),
    }
    if compile_paths:
        makers["optimized-compiled"] = lambda m: torch.compile(rdafnet.optimize(m), dynamic=False)
        makers["optimized-bf16-compiled"] = lambda m: torch.compile(
            rdafnet.optimize(m, precision="bf16"), dynamic=False
        )
    jobs = [(v, n) for v in variants for n in makers if "compiled" not in n] + [
        (v, n) for v in variants for n in makers if "compiled" in n
    ]
    rows, refs, t_end = [], {}, time.time() + budget_s
    for variant, name in jobs:
        key = variant["variant"]
        if time.time() > t_end:
            rows.append({"variant": key, "path": name, "skipped": "out of time"})
            continue
        try:
            torch.manual_seed(0)
            model = rdafnet.build(**variant).to(device).eval()
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            t = time.perf_counter()
            net = makers[name](model)
            run = (
                (lambda t_, net=net: restore_tensor(t_, net, tile=tile, overlap=tile // 4, batch_size=4))
                if "tiled" in name
                else net
            )
            with torch.no_grad():
                run(x)  # warm-up (and compilation) on the full frame
                warm = time.perf_counter() - t
                sec, y = timed(run, x, repeats, device)
            row = {
                "variant": key,
                "path": name,
                "median_s": round(sec, 4),
                "warmup_s": round(warm, 1),
                "gflop_s": round(2 * rdafnet.profile(model, (h, w)).macs / sec / 1e9),
            }
            if device.type == "cuda":
                row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            if name == "reference":
                refs[key] = (y.float(), sec)
            elif key in refs:
                mse = float(((y.float() - refs[key][0]) ** 2).mean())
                row["psnr_vs_reference"] = round(99.0 if mse == 0 else 10 * math.log10(1 / mse), 1)
            if key in refs:
                row["x_vs_reference"] = round(refs[key][1] / sec, 2)
            del net, run, y, model
        except Exception as exc:  # noqa: BLE001 - one failing path must not cost the others
            row = {"variant": key, "path": name, "error": f"{type(exc).__name__}: {exc}"[:300]}
        rows.append(row)
        log("  " + json.dumps(row))
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| variant | path | median s | x vs reference | peak GiB | GFLOP/s | PSNR vs reference |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "median_s" not in r:
            lines.append(f"| {r['variant']} | {r['path']} | {r.get('error') or r.get('skipped')} | | | | |")
            continue
        lines.append(
            f"| {r['variant']} | {r['path']} | {r['median_s']:.3f} | {r.get('x_vs_reference', '-')} | "
            f"{r.get('peak_mem_gib', '-')} | {r['gflop_s']} | {r.get('psnr_vs_reference', '-')} |"
        )
    return "\n".join(lines)


def _tar_run(run_dir: Path, dst: Path) -> None:
    """``best/``, ``final/``, ``log.csv`` and ``val.csv`` of ``run_dir`` into ``dst``, atomically."""
    tmp = dst.with_name(dst.name + ".part")
    with tarfile.open(tmp, "w") as tar:
        for name in ("best", "final", "log.csv", "val.csv", "config.json"):
            if (run_dir / name).exists():
                tar.add(run_dir / name, arcname=name)
    os.replace(tmp, dst)


def train(out: Path, data: Path, work: Path, *, minutes: float, tiny: bool, device) -> dict:
    """Calibrate the step time, then train ``small`` (bf16 autocast) for ``minutes``."""
    import torch

    import rdafnet
    from rdafnet.data import PairedImages, find_pairs
    from rdafnet.train import TrainConfig, Trainer

    variant = {"variant": "tiny", "width": 8, "num_blocks": 1} if tiny else {"variant": "small"}
    batch, crop = (2, 32) if tiny else (16, 256)
    workers = 0 if tiny else min(8, os.cpu_count() or 1)
    pairs, val = find_pairs(data / "train"), find_pairs(data / "val")
    # calibration: steps 9-24 of the same configuration (after the first image decodes), for the
    # number of steps that fits the budget
    calib = Trainer(
        rdafnet.build(**variant),
        PairedImages(pairs, crop=crop, seed=0),
        work / "calibrate",
        TrainConfig(
            steps=24, batch_size=batch, lr=1e-4, num_workers=workers, log_every=1, ckpt_every=10**9, ckpt_minutes=None
        ),
        device=device,
    )
    calib.fit(progress=False)
    seconds = {int(r["step"]): float(r["seconds"]) for r in csv.DictReader((work / "calibrate" / "log.csv").open())}
    step_s = (seconds[24] - seconds[8]) / 16
    # the CPU rehearsal trains a fixed number of steps: its work, not a loaded machine's clock, decides
    steps = 8 if tiny else max(4, int(minutes * 60 / step_s * 0.9))
    val_every = max(2, int(60 / step_s))  # about once a minute
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=5e-4,
        grad_clip=1.0,
        ema=0.999,
        val_every=val_every,
        ckpt_every=10**9,
        ckpt_minutes=1.0,
        max_minutes=None if tiny else minutes,
        num_workers=workers,
        seed=0,
        extra={"command": f"benchmarks/gpu_run.py run (calibrated {step_s:.3f} s/step)", "device": str(device)},
    )
    log(
        f"training {variant['variant']}: {step_s:.3f} s/step in calibration -> {steps} steps, "
        f"validation every {val_every}, {minutes:.1f} min at most"
    )
    run_dir = work / "train"
    torch.manual_seed(0)
    trainer = Trainer(
        rdafnet.build(**variant), PairedImages(pairs, crop=crop, seed=0), run_dir, cfg, val_pairs=val, device=device
    )
    stop = threading.Event()

    def keep_sending():  # a cut-short run still returns its latest best/
        while not stop.wait(60):
            try:
                _tar_run(run_dir, out / "train.tar")
            except OSError as exc:  # a file replaced while read: the next minute gets it
                log(f"tar skipped: {exc}")

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    t = time.time()
    try:
        metrics = trainer.fit(progress=False)
    finally:
        stop.set()
        _tar_run(run_dir, out / "train.tar")
    return {
        "variant": variant["variant"],
        "steps": trainer.step,
        "planned_steps": steps,
        "batch": batch,
        "crop": crop,
        "calibrated_step_s": round(step_s, 4),
        "minutes": round((time.time() - t) / 60, 2),
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
    }


def run(args: argparse.Namespace) -> None:
    import torch

    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sys.stdout = Tee(out / "gpu_run.log")
    device = torch.device("cpu" if args.tiny else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; pass --tiny for the CPU rehearsal")
    data = Path(args.data)
    if not (data / "manifest.json").exists():
        raise SystemExit(f"{data}/manifest.json is missing: run 'python benchmarks/gpu_run.py pack' first")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)  # a fresh run, never a resumed one
    args.budget_s = args.budget_s or (45 if args.tiny else 530)
    left = lambda: args.budget_s - (time.time() - t0)  # noqa: E731
    facts = device_facts(device)
    log(json.dumps(facts))
    slug = re.sub(r"[^a-z0-9]+", "-", (facts.get("gpu") or "cpu").lower()).strip("-")
    result_file = out / f"{slug}-{datetime.date.today().isoformat()}.json"
    result = {"facts": facts, "budget_s": args.budget_s}

    def save():
        tmp = result_file.with_name(result_file.name + ".part")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, result_file)

    save()
    # the rehearsal checks that every step works: it gives each step its own limit rather than a share
    # of a wall-time budget that a loaded CPU would overrun
    result["tests"] = run_tests(out, timeout=args.tests_s if args.tiny else min(args.tests_s, max(10, left() - 60)))
    save()
    log("speed table:")
    variants = (
        [{"variant": "tiny", "width": 8, "num_blocks": 1}]
        if args.tiny
        else [{"variant": "single-stage"}, {"variant": "multi-stage"}]
    )
    rows = speed_table(
        device,
        variants=variants,
        size=(64, 96) if args.tiny else (720, 1280),
        tile=32 if args.tiny else 512,
        repeats=2 if args.tiny else 5,
        budget_s=args.bench_s if args.tiny else min(args.bench_s, max(5, left() - 120)),
        compile_paths=not args.tiny,
    )
    result["speed"] = rows
    save()
    log(markdown(rows))
    minutes = (left() - (5 if args.tiny else 30)) / 60
    if args.tiny or minutes > 0.2:
        result["train"] = train(out, data, work, minutes=max(minutes, 0.05), tiny=args.tiny, device=device)
    save()
    log(f"done in {time.time() - t0:.0f} s; files in {out}: {sorted(p.name for p in out.iterdir())}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("pack", help="copy the training/validation split into gpu_data/")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("-o", "--out", default=str(ROOT / "gpu_data"))
    s.add_argument("--max-mib", type=float, default=48)
    s.set_defaults(func=pack)
    s = sub.add_parser("run", help="the device run (or its CPU rehearsal with --tiny)")
    s.add_argument("--out", required=True, help="folder for the (at most five) result files")
    s.add_argument("--data", default=str(ROOT / "gpu_data"))
    s.add_argument("--work", default="/tmp/rdafnet-gpu-run", help="scratch folder for the training run")
    s.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="wall time: 530 s (--tiny: none)",
    )
    s.add_argument("--tests-s", type=float, default=120)
    s.add_argument("--bench-s", type=float, default=150)
    s.add_argument("--tiny", action="store_true", help="CPU rehearsal: tiny models, frames and budgets")
    s.set_defaults(func=run)
    a = p.parse_args(argv)
    a.func(a)


if __name__ == "__main__":
    main()
