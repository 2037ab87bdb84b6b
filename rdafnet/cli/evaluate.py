"""``rdafnet eval``: PSNR/SSIM of a model on a folder of pairs."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("eval", help="PSNR/SSIM of a model on a folder of pairs (under torchrun: shared out)")
    s.add_argument("--data", required=True)
    s.add_argument("--model", default=None)
    s.add_argument("--out", default=None, help="also write the restored images here")
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--device", default=None)
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    import numpy as np

    from .. import distributed
    from ..data.pairs import find_pairs
    from ..hub import from_pretrained
    from ..evaluate import evaluate
    from ..ops import keep_freed_memory
    keep_freed_memory()
    try:
        model = from_pretrained(a.model, device=distributed.setup(a.device))
        rows = evaluate(model, find_pairs(a.data), device=next(model.parameters()).device,
                        out_dir=a.out, overwrite=a.overwrite, shard=True)
    finally:
        distributed.teardown()
    if rows is None:                 # a torchrun rank other than 0: rank 0 prints the table
        return 0
    print(f"{'image':48s} {'PSNR in':>8s} {'PSNR out':>9s} {'SSIM in':>8s} {'SSIM out':>9s}")
    for r in rows:
        print(f"{r['image'][:48]:48s} {r['psnr_blur']:8.2f} {r['psnr']:9.2f} {r['ssim_blur']:8.4f} {r['ssim']:9.4f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr_blur", "psnr", "ssim_blur", "ssim")}
    print(f"{'mean':48s} {mean['psnr_blur']:8.2f} {mean['psnr']:9.2f} {mean['ssim_blur']:8.4f} {mean['ssim']:9.4f}")
    return 0
