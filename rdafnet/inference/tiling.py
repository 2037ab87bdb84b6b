"""Tiled inference: the tile grid, blending weights, the memory guard and restore_tensor."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from rdafnet.utils.device import resolve_device
from rdafnet.utils.tensor import check_count, check_image_batch


def _axis_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted(set(starts))


def _axis_weight(start: int, tile: int, size: int, overlap: int, margin: int) -> torch.Tensor:
    """Blend weights along one axis: zero for ``margin`` pixels at edges shared with a neighbour
    tile (where padding effects live), a linear ramp over the rest of the overlap, one inside and
    on the image border."""
    n = min(tile, size)
    w = torch.ones(n, dtype=torch.float64)
    ramp_len = max(1, overlap - 2 * margin)
    ramp = torch.clamp((torch.arange(n, dtype=torch.float64) - margin + 0.5) / ramp_len, 0, 1)
    if start > 0:
        w = torch.minimum(w, ramp)
    if start + n < size:
        w = torch.minimum(w, ramp.flip(0))
    return w


def tile_grid(h: int, w: int, tile: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Top-left corners of fixed-size tiles covering an h x w image (last row/column flush)."""
    for y in _axis_starts(h, tile, overlap):
        for x in _axis_starts(w, tile, overlap):
            yield y, x


#: Peak memory of one forward pass per input pixel and per unit of network width, with a margin over
#: the measured figures in docs/tiling.md.
BYTES_PER_PIXEL_PER_WIDTH = 64
#: A tile plan may do at most this many times the work of one whole-frame pass.
MAX_TILE_WORK = 4.0


def frame_bytes(model: torch.nn.Module, h: int, w: int, batch: int = 1) -> int | None:
    """Estimated peak memory (bytes) of ``model`` on ``batch`` frames of h x w, or ``None`` for a model
    that is not an RDAFNet network (no estimate: no automatic tiling)."""
    from rdafnet.models.networks import RDAFNetBase

    if not isinstance(model, RDAFNetBase):
        return None
    per_pixel = BYTES_PER_PIXEL_PER_WIDTH * model.config["width"] * (1.5 if model.num_stages > 1 else 1) + 64
    return int(per_pixel * h * w * batch)


#: The RAM assumed where the system says nothing (no ``/proc/meminfo`` and no ``os.sysconf``: Windows).
UNKNOWN_RAM = 8 * 2**30


def memory_budget(device: torch.device) -> int:
    """Bytes a pass may use: 80% of the free GPU memory, or half of the available RAM (Linux:
    ``/proc/meminfo``; macOS: the physical pages ``os.sysconf`` gives; otherwise :data:`UNKNOWN_RAM`)."""
    if device.type == "cuda":
        return int(0.8 * torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        available = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = UNKNOWN_RAM
        for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
            try:
                available = os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
                break
            except (AttributeError, ValueError, OSError):
                continue
    return available // 2


#: The overlap of automatic tiles (at most tile // 4): enough for the blend, without redoing a quarter of each tile.
AUTO_OVERLAP = 64
_AUTO_TILES = (2048, 1024, 768, 512, 384, 256, 128)


def auto_overlap(tile: int) -> int:
    """The overlap the memory guard uses with ``tile``."""
    return min(AUTO_OVERLAP, tile // 4)


def tile_work(h: int, w: int, tile: int, overlap: int) -> float:
    """Pixels a tile plan computes, as a multiple of one whole h x w frame (1.0: no overlap at all)."""
    n = len(_axis_starts(h, tile, overlap)) * len(_axis_starts(w, tile, overlap))
    return n * min(tile, h) * min(tile, w) / (h * w)


def auto_tile(model: torch.nn.Module, h: int, w: int, *, batch_size: int, budget: int, frames: int = 1) -> int | None:
    """``None`` when a whole-frame pass over ``frames`` frames fits ``budget``; else, of the tiles (2048 ...
    128) whose batch fits, the one that computes the fewest pixels with :func:`auto_overlap` (the larger
    on a tie), so that tiling costs as little time as the memory allows."""
    need = frame_bytes(model, h, w, frames)
    if need is None or need <= budget:
        return None
    fitting = [t for t in _AUTO_TILES if t < max(h, w) and (frame_bytes(model, t, t, batch_size) or 0) <= budget]
    if not fitting:
        return _AUTO_TILES[-1]
    return min(fitting, key=lambda t: (round(tile_work(h, w, t, auto_overlap(t)), 3), -t))


def restore_tensor(
    x: torch.Tensor,
    model: torch.nn.Module,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = False,
    max_memory: int | None = None,
) -> torch.Tensor:
    """Run ``model`` on a (B, 3, H, W) [0, 1] tensor kept on its own device (usually the CPU).

    ``tile=None`` processes the whole frame at once. Otherwise fixed-size ``tile`` x ``tile``
    crops overlapping by ``overlap`` (default ``tile // 4``) are moved to ``device`` in batches of
    ``batch_size`` and blended back: their ``overlap // 4`` outer pixels at shared edges are dropped
    and the rest cross-faded, so a model whose receptive field is within that margin gives exactly
    its whole-frame output. Device memory is bounded by the tile batch, not the image. On CUDA
    out-of-memory the batch is halved and retried; at batch 1 the error says to use a smaller tile.

    Memory guard: with ``tile=None``, a frame whose estimated whole-frame pass (:func:`frame_bytes`)
    exceeds ``max_memory`` bytes (default :func:`memory_budget`: half the available RAM, 80% of free
    GPU memory) is tiled automatically, with a ``RuntimeWarning`` naming the tile. A tile plan that
    would do more than :data:`MAX_TILE_WORK` times the work of one whole frame is refused.
    """
    check_image_batch(x)
    check_count("batch_size", batch_size, 1)
    if tile is not None and (
        isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 16 or tile % 2
    ):
        raise ValueError(f"tile must be an even number >= 16, got {tile!r}")
    if overlap is not None:
        check_count("overlap", overlap, 0)
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    # a model that runs its own autocast (optimize(precision=...)) takes fp32 input and keeps its
    # global residual in fp32; any other model gets its weights' dtype
    # (getattr: a torch.compile wrapper forwards the attribute without being an RDAFNetBase)
    dtype = torch.float32 if getattr(model, "autocast_dtype", None) else next(model.parameters()).dtype
    b, c, h, w = x.shape
    if tile is None:
        budget = memory_budget(device) if max_memory is None else int(max_memory)
        tile = auto_tile(model, h, w, batch_size=batch_size, budget=budget, frames=b)
        if tile is not None:
            overlap = auto_overlap(tile) if overlap is None else overlap
            what = f"a whole {h}x{w} frame" if b == 1 else f"{b} whole {h}x{w} frames"
            warnings.warn(
                f"{what} needs about {(frame_bytes(model, h, w, b) or 0) / 2**30:.1f} GiB, over the "
                f"{budget / 2**30:.1f} GiB budget: restoring it in {tile} px tiles, overlap {overlap} "
                "(pass tile= or max_memory= to choose; tiles differ slightly from a whole-frame pass)",
                RuntimeWarning,
                stacklevel=2,
            )
    if tile is None or (h <= tile and w <= tile):
        with torch.no_grad():
            return model(x.to(device, dtype)).to(x.device, x.dtype)
    tile = int(tile)
    overlap = tile // 4 if overlap is None else int(overlap)
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap} for tile={tile}")
    n_tiles = len(_axis_starts(h, tile, overlap)) * len(_axis_starts(w, tile, overlap))
    work = tile_work(h, w, tile, overlap)
    if work > MAX_TILE_WORK:
        raise ValueError(
            f"tile={tile} with overlap={overlap} plans {n_tiles} tiles, {work:.0f}x the work of one "
            f"whole-frame pass; use a smaller overlap (default tile // 4) or a larger tile"
        )
    margin = overlap // 4
    acc_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    out = torch.zeros(b, c, h, w, dtype=acc_dtype)  # on the host: only tiles visit the device
    norm = torch.zeros(1, 1, h, w, dtype=acc_dtype)
    jobs = [(i, y, xx) for i in range(b) for y, xx in tile_grid(h, w, tile, overlap)]
    bar = None
    if progress:
        from rdafnet.utils.progress import progress_bar

        bar = progress_bar(total=len(jobs), desc="tiles", leave=False, unit="tile")
    pos = 0
    while pos < len(jobs):
        chunk = jobs[pos : pos + batch_size]
        batch = torch.stack([x[i, :, y : y + tile, xx : xx + tile] for i, y, xx in chunk]).to(device, dtype)
        try:
            with torch.no_grad():
                pred = model(batch).to("cpu", acc_dtype)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            if batch_size == 1:
                raise RuntimeError(
                    f"out of GPU memory on one {tile}x{tile} tile; pass a smaller tile (e.g. tile=256) or device='cpu'"
                ) from exc
            batch_size = max(1, batch_size // 2)
            continue
        for (i, y, xx), p in zip(chunk, pred, strict=True):
            th, tw = p.shape[-2:]
            wgt = (
                _axis_weight(y, tile, h, overlap, margin)[:, None] * _axis_weight(xx, tile, w, overlap, margin)[None]
            ).to(acc_dtype)
            out[i, :, y : y + th, xx : xx + tw] += p * wgt
            if i == 0:
                norm[0, 0, y : y + th, xx : xx + tw] += wgt
        pos += len(chunk)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return (out / norm).to(x.dtype).to(x.device)
