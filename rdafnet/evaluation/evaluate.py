"""How well a model restores: PSNR/SSIM on blurry/sharp pairs (``rdafnet eval``, validation while
training), and NIQE before and after on real photos without a sharp reference (``--no-reference``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rdafnet.data.pairs import pair_names, scene_of
from rdafnet.evaluation.metrics import psnr, ssim
from rdafnet.evaluation.niqe import niqe
from rdafnet.inference.convert import prepare
from rdafnet.io.image import plan_outputs, read_image, write_image
from rdafnet.utils import distributed
from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.checkpoint import state_digest

#: ``on_image(row, images)``: called with each row and its images (input, output[, sharp]), e.g. for a sheet
OnImage = Callable[[dict[str, Any], list[Any]], None]


def _plan(
    out_dir: str | os.PathLike | None,
    sources: Sequence[Path],
    names: Sequence[str],
    overwrite: bool,
    *,
    protect: Sequence[Path] = (),
) -> None:
    """Refuse, before any work, outputs that would replace inputs, or existing ones without ``overwrite``."""
    if out_dir is None:
        return
    plan_outputs(sources, [Path(out_dir) / n for n in names], protect=protect)
    existing = next((n for n in names if (Path(out_dir) / n).exists()), None)
    if existing is not None and not overwrite:
        raise FileExistsError(
            f"{Path(out_dir) / existing} exists; pass overwrite=True (--overwrite) to replace the restored images in it"
        )


#: In an evaluation's ``out_dir``: the model its restored images come from, so that a run stopped midway
#: and started again scores the images already written instead of computing them again.
MANIFEST = ".rdafnet-eval.json"
#: Suffixes written without loss: only such earlier outputs are scored as they are.
_LOSSLESS = {".png", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".webp"}


def _resume(out_dir: str | os.PathLike | None, model: nn.Module, overwrite: bool) -> tuple[bool, str]:
    """Whether ``out_dir`` holds the restored images of an earlier run with this very model (its manifest
    says so): then existing images are reused rather than refused; and the model's digest, for
    :func:`_record` once the outputs are planned."""
    if out_dir is None:
        return False, ""
    digest = state_digest(model)
    try:
        same = json.loads((Path(out_dir) / MANIFEST).read_text()).get("model") == digest
    except (OSError, ValueError, AttributeError):
        same = False
    return same and not overwrite, digest


def _record(out_dir: str | os.PathLike | None, digest: str) -> None:
    """Write the manifest: the restored images in ``out_dir`` come from the model of ``digest``."""
    if out_dir is not None and distributed.rank_and_world()[0] == 0:
        text = json.dumps({"model": digest})
        atomic_write(Path(out_dir) / MANIFEST, lambda tmp: Path(tmp).write_text(text))


def _earlier(out_dir: str | os.PathLike | None, name: str, like: Any, reuse: bool) -> Any:
    """The restored image of ``name`` an earlier run of this evaluation wrote losslessly, or ``None``."""
    if not reuse or out_dir is None:
        return None
    path = Path(out_dir) / name
    if path.suffix.lower() not in _LOSSLESS or not path.is_file():
        return None
    image = read_image(path)
    image = image[..., :3] if like.ndim == 3 else image[..., 0]
    return image if image.shape == like.shape and image.dtype == like.dtype else None


@torch.no_grad()
def evaluate(
    model: nn.Module,
    pairs: list[tuple[Path, Path]],
    *,
    device: torch.device | str = "cpu",
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    restore=None,
    shard: bool = False,
    on_image: OnImage | None = None,
    on_error: Callable[[Path, Exception], None] | None = None,
) -> list[dict[str, Any]] | None:
    """PSNR/SSIM of the restored blurry images against the sharp ones, per pair, on uint8 outputs.

    ``shard=True`` under ``torchrun``: each rank evaluates its share of the pairs
    (:func:`rdafnet.utils.distributed.shard`) and rank 0 returns every row in input order; other ranks
    return ``None``. Outside ``torchrun`` it changes nothing.

    Rows are named by :func:`~rdafnet.data.pairs.pair_names`; ``out_dir`` receives the restored
    images under those names (so ``<sequence>/<name>`` for the GoPro layout) and must not be a
    folder of the pairs themselves. ``restore(model, image_uint8) -> image_uint8`` defaults to one
    full-frame forward pass. Images an interrupted run with the same model wrote there are scored as
    they are (the run resumes); with another model they are refused unless ``overwrite``. A pair that
    cannot be read or restored raises a ``ValueError`` naming it, or with ``on_error(blur_path, exc)`` is
    passed there and left out.
    """
    names = pair_names(pairs)
    reuse, digest = _resume(out_dir, model, overwrite)
    _plan(out_dir, [b for b, _ in pairs], names, overwrite or reuse, protect=[s for _, s in pairs])
    _record(out_dir, digest)
    if restore is None:

        def restore(m, img):  # grey stays grey, as rdafnet.deblur restores it
            batch, finish = prepare(img)
            return finish(m(batch.to(device)).float().cpu())

    model.eval()
    rows = []
    jobs = list(zip(names, pairs, strict=True))
    for name, (b_path, s_path) in distributed.shard(jobs) if shard else jobs:
        try:
            blur, sharp = read_image(b_path)[..., :3], read_image(s_path)[..., :3]
            if blur.shape != sharp.shape:
                raise ValueError(f"the images differ in size or channels ({blur.shape} and {sharp.shape})")
            earlier = _earlier(out_dir, name, blur, reuse)
            out = restore(model, blur) if earlier is None else earlier
        except (ValueError, RuntimeError) as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            error = ValueError(f"pair {b_path} / {s_path}: {reason}")
            if on_error is None:
                raise error from exc
            on_error(b_path, error)
            continue
        rows.append(
            {
                "image": name,
                "scene": scene_of(b_path),
                "psnr_blur": psnr(blur, sharp),
                "ssim_blur": ssim(blur, sharp),
                "psnr": psnr(out, sharp),
                "ssim": ssim(out, sharp),
            }
        )
        if out_dir is not None and earlier is None:
            write_image(Path(out_dir) / name, out, overwrite=overwrite or reuse)
        if on_image is not None:
            on_image(rows[-1], [blur, out, sharp])
    return distributed.gather(rows) if shard else rows


def evaluate_no_reference(
    model: nn.Module | None,
    images: Sequence[str | os.PathLike],
    *,
    restored: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    on_error: Callable[[Path, Exception], None] | None = None,
    on_image: OnImage | None = None,
    **deblur_kwargs: Any,
) -> list[dict[str, Any]]:
    """NIQE (MATLAB's, :func:`rdafnet.evaluation.niqe.niqe`; lower is better) of each photo and of its restoration.

    The restoration is ``rdafnet.deblur(photo, model, **deblur_kwargs)``, or with ``restored=DIR`` the
    file of the same name (any image suffix) already in DIR. ``out_dir`` also receives the restored
    images (an interrupted run with the same model resumes there, as in :func:`evaluate`). A photo that
    cannot be read, restored or scored (smaller than 96x96, say) is passed to ``on_error(path, exc)`` and
    left out (without ``on_error`` the error is raised).
    """
    from rdafnet.inference.deblur import deblur, default_model

    paths = [Path(p) for p in images]
    names = [p.name for p in paths]
    writes = out_dir if restored is None else None
    if writes is not None and model is None:
        model = default_model()
    reuse, digest = _resume(writes, model, overwrite) if model is not None else (False, "")
    _plan(out_dir, paths, names, overwrite or reuse)
    _record(writes, digest)
    found = _by_stem(Path(restored)) if restored is not None else {}
    rows: list[dict[str, Any]] = []
    for path, name in zip(paths, names, strict=True):
        try:
            photo = read_image(path)
            rgb = photo[..., :3] if photo.ndim == 3 else photo
            earlier = None
            if restored is not None:
                if path.stem not in found:
                    raise FileNotFoundError(f"no restored image named {path.stem}.* in {restored}")
                out = read_image(found[path.stem])
                out = out[..., :3] if out.ndim == 3 else out
                if out.shape[:2] != rgb.shape[:2]:
                    raise ValueError(
                        f"{found[path.stem]} is {out.shape[1]}x{out.shape[0]}, the photo {rgb.shape[1]}x{rgb.shape[0]}"
                    )
            else:
                earlier = _earlier(writes, name, rgb, reuse)
                out = deblur(rgb, model, **deblur_kwargs) if earlier is None else earlier
            row = {
                "image": name,
                "width": rgb.shape[1],
                "height": rgb.shape[0],
                "niqe_input": niqe(rgb),
                "niqe_output": niqe(out),
            }
            if writes is not None and earlier is None:
                write_image(Path(writes) / name, out, overwrite=overwrite or reuse)
        except (ValueError, OSError) as exc:
            if on_error is None:
                raise
            on_error(path, exc)
            continue
        rows.append(row)
        if on_image is not None:
            on_image(row, [rgb, out])
    return rows


def _by_stem(folder: Path) -> dict[str, Path]:
    from rdafnet.io.image import IMAGE_SUFFIXES

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of restored images")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
