"""Publish a trained model: measure it, write it with an honest model card, print its registry entry.

    python examples/export_model.py runs/mine/best exported/my-model --name my-model \
        --test ../shared/data/gopro_dev --heldout val_pairs.txt --notes data_notes.md

``RUN`` is a folder written by ``rdafnet train`` (``best/`` or ``final/``, with ``training.json``).
The card records the exact training command, steps, wall time (from the run's ``log.csv``),
hardware, PSNR/SSIM against the blurry input on every test and held-out pair, and CPU seconds
per 720x1280 frame for the reference, optimized and (where bf16 is native) bf16 paths. The
printed JSON (sha256 of each file, metrics) is what ``rdafnet/weights/registry.json`` holds for
a bundled model. The output folder loads with ``rdafnet.from_pretrained(OUT)`` and can be
uploaded with ``model.push_to_hub(repo_id)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import rdafnet
from rdafnet.data import find_pairs
from rdafnet.evaluation.evaluate import evaluate
from rdafnet.ops import bf16_native
from rdafnet.weights.hub import sha256


def cpu_seconds(model: torch.nn.Module, size: tuple[int, int] = (720, 1280), repeats: int = 3) -> dict[str, float]:
    """Median seconds for one frame of ``size`` per path (a warm-up run first)."""
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    paths = {"reference": model, "optimized": rdafnet.optimize(model)}
    if bf16_native("cpu"):
        paths["optimized_bf16"] = rdafnet.optimize(model, precision="bf16")
    out = {}
    with torch.no_grad():
        for name, m in paths.items():
            m(x)
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                m(x)
                times.append(time.perf_counter() - t)
            out[name] = round(statistics.median(times), 2)
    return out


def run_log(run_dir: Path, step: int) -> tuple[float | None, list[tuple[int, float]]]:
    """Wall minutes to ``step`` and the validation curve (step, PSNR) from the run's log.csv."""
    log = run_dir.parent / "log.csv"
    if not log.exists():
        return None, []
    rows = list(csv.DictReader(log.open()))
    done = [r for r in rows if int(r["step"]) <= step]
    minutes = round(float(done[-1]["seconds"]) / 60, 1) if done else None
    return minutes, [(int(r["step"]), float(r["val_psnr"])) for r in rows if r.get("val_psnr")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="trained model folder (with training.json)")
    p.add_argument("out", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--test", nargs="+", default=[], help="test pairs (folders or pair lists)")
    p.add_argument(
        "--heldout-scenes", nargs="+", default=[], help="pairs of training-set scenes the model never trained on"
    )
    p.add_argument("--heldout", nargs="+", default=[], help="held-out pairs of scenes the model trained on")
    p.add_argument("--notes", type=Path, help="markdown describing the data and its licences (goes into the card)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--timing-size", default="720x1280", help="frame size (HxW) of the CPU timing in the card")
    a = p.parse_args()
    if (a.out / "model.safetensors").exists() and not a.overwrite:
        raise SystemExit(f"{a.out} already holds a model; pass --overwrite to replace it")
    model = rdafnet.from_pretrained(a.run)
    info = json.loads((a.run / "training.json").read_text())
    cfg, step = info["config"], info["step"]

    rows, metrics = [], []
    for kind, sources in (("test", a.test), ("held-out scene", a.heldout_scenes), ("held-out", a.heldout)):
        for r in evaluate(model, [pr for s in sources for pr in find_pairs(s)]):
            rows.append((kind, r))
            metrics.append(
                {"dataset": f"GoPro {Path(r['image']).stem} ({kind})", "type": "psnr", "value": round(r["psnr"], 2)}
            )
    gains = [r["psnr"] - r["psnr_blur"] for _, r in rows]
    new_scenes = [r["psnr"] - r["psnr_blur"] for kind, r in rows if kind in ("test", "held-out scene")]
    unseen = (
        f" On scenes it never trained on (test and held-out scenes): {statistics.mean(new_scenes):+.2f} dB "
        f"mean, {min(new_scenes):+.2f} dB smallest."
        if new_scenes
        else ""
    )
    size = tuple(int(v) for v in a.timing_size.split("x"))
    speed = cpu_seconds(model, size)
    minutes, curve = run_log(a.run, step)
    table = "\n".join(
        f"| {Path(r['image']).stem} | {kind} | {r['psnr_blur']:.2f} / {r['ssim_blur']:.4f} | "
        f"{r['psnr']:.2f} / {r['ssim']:.4f} | {r['psnr'] - r['psnr_blur']:+.2f} dB |"
        for kind, r in rows
    )
    hardware = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    notes = a.notes.read_text().strip() if a.notes else ""
    body = f"""## Training

{notes}

- Command (seeded; rerunning it reproduces these weights on the same software):
  `{cfg["extra"].get("command", "(not recorded)")}`
- Steps: {step} of {cfg["steps"]} (the run's `{a.run.name}/` export), batch {cfg["batch_size"]}, Adam
  (lr {cfg["lr"]}, betas {tuple(cfg["betas"])}), EMA {cfg["ema"]}, gradient clip {cfg["grad_clip"]},
  bf16 autocast {"on" if cfg.get("amp") else "off"}.
- Wall time to this step: {minutes} min on {hardware}.

## Measured quality (PSNR dB / SSIM, RGB, 0-255, 8-bit outputs, whole frames)

| image | set | blurry input | this model | gain |
| --- | --- | --- | --- | --- |
{table}

Mean gain: {statistics.mean(gains):+.2f} dB; smallest: {min(gains):+.2f} dB.{unseen}

## Speed

CPU seconds per {size[0]}x{size[1]} frame ({hardware}, median of 3):
{", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in speed.items())}.
"""
    if curve:
        body += (
            "\nValidation PSNR during training (mean over the validation pairs):\n\n| step | PSNR |\n| --- | --- |\n"
        )
        body += "".join(f"| {k} | {v:.2f} |\n" for k, v in curve)
    model.save_pretrained(
        a.out,
        model_card_kwargs={"title": a.name, "body": body, "metrics": metrics, "datasets": ["GoPro"], "source": a.name},
    )
    entry = {
        "sha256": {f: sha256(a.out / f) for f in ("config.json", "model.safetensors")},
        "metrics": {
            r["image"]: {"psnr": round(r["psnr"], 2), "psnr_blurry": round(r["psnr_blur"], 2)} for _, r in rows
        },
        f"cpu_seconds_{size[0]}x{size[1]}": speed,
    }
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
