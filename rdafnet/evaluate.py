"""PSNR/SSIM of a model on blurry/sharp pairs, per pair (``rdafnet eval``, validation while training)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed
from ._tensor import batch_to_image, image_to_batch
from .data.pairs import pair_names, scene_of
from .io import from_float, plan_outputs, read_image, to_float, write_image
from .metrics import psnr, ssim


@torch.no_grad()
def evaluate(model: nn.Module, pairs: list[tuple[Path, Path]], *, device: torch.device | str = "cpu",
             out_dir: str | os.PathLike | None = None, overwrite: bool = False,
             restore=None, shard: bool = False) -> list[dict[str, Any]] | None:
    """PSNR/SSIM of the restored blurry images against the sharp ones, per pair, on uint8 outputs.

    ``shard=True`` under ``torchrun``: each rank evaluates its share of the pairs
    (:func:`rdafnet.distributed.shard`) and rank 0 returns every row in input order; other ranks
    return ``None``. Outside ``torchrun`` it changes nothing.

    Rows are named by :func:`~rdafnet.data.pairs.pair_names`; ``out_dir`` receives the restored
    images under those names (so ``<sequence>/<name>`` for the GoPro layout) and must not be a
    folder of the pairs themselves. ``restore(model, image_uint8) -> image_uint8`` defaults to one
    full-frame forward pass.
    """
    names = pair_names(pairs)
    if out_dir is not None:
        plan_outputs([b for b, _ in pairs], [Path(out_dir) / n for n in names], protect=[s for _, s in pairs])
        existing = next((n for n in names if (Path(out_dir) / n).exists()), None)
        if existing is not None and not overwrite:
            raise FileExistsError(f"{Path(out_dir) / existing} exists; pass overwrite=True (--overwrite) "
                                  "to replace the restored images in it")
    if restore is None:
        def restore(m, img):
            return from_float(batch_to_image(m(image_to_batch(to_float(img)).to(device)).float()), img.dtype)
    model.eval()
    rows = []
    jobs = list(zip(names, pairs))
    for name, (b_path, s_path) in (distributed.shard(jobs) if shard else jobs):
        blur, sharp = read_image(b_path)[..., :3], read_image(s_path)[..., :3]
        out = restore(model, blur)
        rows.append({"image": name, "scene": scene_of(b_path), "psnr_blur": psnr(blur, sharp), "ssim_blur": ssim(blur, sharp),
                     "psnr": psnr(out, sharp), "ssim": ssim(out, sharp)})
        if out_dir is not None:
            write_image(Path(out_dir) / name, out, overwrite=overwrite)
    return distributed.gather(rows) if shard else rows
