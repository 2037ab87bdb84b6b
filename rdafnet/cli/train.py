"""``rdafnet train``: train or fine-tune on folders of pairs."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from rdafnet.cli._args import bounded, device, positive_float
from rdafnet.models.registry import VARIANTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("train", help="train or fine-tune on folders of pairs (torchrun for several GPUs)")
    s.add_argument("--data", nargs="+", required=True, help="pair folders (flat or GoPro layout) or pair lists")
    s.add_argument("--val", nargs="*", help="validation pair folders (full frames)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--variant", default="tiny", choices=list(VARIANTS))
    g.add_argument("--from", dest="from_model", help="start from a pretrained model (name, path, hub id)")
    s.add_argument("--width", type=bounded(int, 1, 1024))
    s.add_argument("--blocks", type=bounded(int, 1, 256))
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--steps", type=bounded(int, 1), default=1000)
    s.add_argument("--batch-size", type=bounded(int, 1), default=4)
    s.add_argument("--crop", type=bounded(int, 16, 4096), default=256)
    s.add_argument("--lr", type=bounded(float, 1e-12), default=1e-4)
    s.add_argument("--grad-clip", type=bounded(float, 0), default=0.01, help="0 disables clipping")
    s.add_argument("--ema", type=float, default=None, help="EMA decay in [0, 1), e.g. 0.999")
    s.add_argument("--val-every", type=bounded(int, 1), default=500)
    s.add_argument("--ckpt-every", type=bounded(int, 1), default=100)
    s.add_argument(
        "--ckpt-minutes",
        type=positive_float,
        default=5.0,
        help="also write the checkpoint when this many minutes have passed since the last (5)",
    )
    s.add_argument(
        "--max-minutes",
        type=positive_float,
        default=None,
        help="stop cleanly after this much wall time, still writing best/ and final/",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--fp32", action="store_true", help="no bf16 autocast (used by default where bf16 is native)")
    s.add_argument("--threads", type=bounded(int, 1, 1024), default=None)
    s.add_argument(
        "--workers",
        type=bounded(int, 0, 256),
        default=0,
        help="processes that prepare batches ahead of the model (0: the training process itself)",
    )
    s.add_argument(
        "--accept-changes",
        action="store_true",
        help="resume a checkpoint written with other settings (lr, batch size, crop, data, loss ...), recording "
        "the change in the run's config.json (without it such a resume is refused, naming the difference)",
    )
    s.add_argument(
        "--restart",
        action="store_true",
        help="start over: move an existing checkpoint and logs of -o into -o/previous-*/ first",
    )
    s.add_argument("--device", type=device, default=None, help="auto, cpu, cuda or cuda:N")
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    import torch

    from rdafnet.data.pairs import PairedImages, find_pairs
    from rdafnet.train.config import TrainConfig
    from rdafnet.train.trainer import Trainer
    from rdafnet.utils import distributed

    cfg = TrainConfig(
        steps=a.steps,
        batch_size=a.batch_size,
        lr=a.lr,
        grad_clip=a.grad_clip or None,
        ema=a.ema,
        val_every=a.val_every,
        ckpt_every=a.ckpt_every,
        ckpt_minutes=a.ckpt_minutes,
        max_minutes=a.max_minutes,
        num_workers=a.workers,
        seed=a.seed,
        amp=not a.fp32,
        extra={"command": shlex.join(["rdafnet", *a.argv])},
    )  # checked before any work
    if a.from_model and (a.width or a.blocks):
        raise ValueError(
            "--width and --blocks shape a new model (--variant); a model given with --from "
            "keeps its own architecture: drop them, or train a new one with --variant"
        )
    if a.from_model and Path(a.from_model).exists():  # the run writes config.json, best/ and final/ into -o
        source, out = Path(a.from_model).resolve(), Path(a.out).resolve()
        if source == out or source in (out / "best", out / "final") or out in source.parents:
            raise ValueError(
                f"-o {a.out} would write over the model it starts from ({a.from_model}); name another folder "
                "for the run (the model is only read)"
            )
    distributed.setup(a.device)
    pairs = [p for d in a.data for p in find_pairs(d)]
    train_set = PairedImages(pairs, crop=a.crop, seed=a.seed)
    val = [p for d in (a.val or []) for p in find_pairs(d)]
    torch.manual_seed(a.seed)  # the initial weights are part of a reproducible run
    if a.from_model:
        from rdafnet.weights.hub import from_pretrained

        model = from_pretrained(a.from_model)
    else:
        from rdafnet.models.registry import build

        model = build(
            a.variant, **({"width": a.width} if a.width else {}), **({"num_blocks": a.blocks} if a.blocks else {})
        )
    if a.threads:
        torch.set_num_threads(a.threads)
    trainer = Trainer(model, train_set, a.out, cfg, val_pairs=val, device=a.device, accept_changes=a.accept_changes)
    if a.restart and (kept := trainer.restart()) is not None:
        print(f"--restart: the earlier run's checkpoint and logs are in {kept}")
    metrics = trainer.fit()
    print({k: round(v, 4) for k, v in metrics.items()})
    distributed.teardown()
    return 0
