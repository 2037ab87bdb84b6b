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
    from rdafnet.weights.convert import load_official

    out = Path(a.out)
    if (out / "model.safetensors").exists() and not a.overwrite:
        raise FileExistsError(f"{out} already holds a model; pass --overwrite to replace it")
    model = load_official(a.checkpoint)
    model.save_pretrained(out)
    print(f"converted {a.checkpoint} ({model.variant}) -> {out} (config.json, model.safetensors, README.md)")
    return 0
