"""``rdafnet convert``: turn an authors' GoPro.pth into a save_pretrained folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("convert", help="turn an authors' GoPro.pth into a save_pretrained folder")
    s.add_argument("checkpoint")
    s.add_argument("out")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    from rdafnet.utils.signals import Interrupted
    from rdafnet.weights.convert import load_official

    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; name the folder the converted model goes to")
    ours = [n for n in ("config.json", "model.safetensors") if (out / n).exists()]
    if ours and not a.overwrite:
        raise FileExistsError(f"{out} already holds a model ({', '.join(ours)}); pass --overwrite to replace it")
    if Path(a.checkpoint).resolve().parent == out.resolve() and Path(a.checkpoint).name in ours:
        raise ValueError(f"{a.checkpoint} would be replaced by the converted model; name another folder")
    model = load_official(a.checkpoint)
    files = ("model.safetensors", "config.json", "README.md")
    existed = {n for n in files if (out / n).exists()}
    try:
        model.save_pretrained(out)
    except Interrupted as stop:  # take back what this run wrote: the same command then starts afresh
        for n in set(files) - existed:
            (out / n).unlink(missing_ok=True)
        raise Interrupted(
            stop.signum, f"stopped by {stop.name}; nothing of the converted model was kept: run the same command again"
        ) from None
    print(f"converted {a.checkpoint} ({model.variant}) -> {out} (config.json, model.safetensors, README.md)")
    return 0
