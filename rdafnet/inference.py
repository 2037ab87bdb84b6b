"""``deblur()``: any image type in, the same type out; whole-frame or tiled inference."""
from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from ._tensor import batch_to_image, check_count, check_image_batch, image_to_batch
from .io import from_float, read_image, to_float

ImageLike = TypeVar("ImageLike", np.ndarray, torch.Tensor, Image.Image)

_DEFAULT_MODEL: dict[str, torch.nn.Module] = {}


def default_model() -> torch.nn.Module:
    """The bundled pretrained model, loaded once per process, optimized with ``precision="auto"`` (the
    fastest precision on this CPU: fp32, or bf16 where measured faster, within 1 grey level)."""
    if "m" not in _DEFAULT_MODEL:
        from .hub import from_pretrained
        from .ops import optimize
        _DEFAULT_MODEL["m"] = optimize(from_pretrained(), precision="auto")
    return _DEFAULT_MODEL["m"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA where there is a GPU, else the CPU; otherwise the device named, which
    must exist here (a ``ValueError`` that says what to pass)."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{device!r} is not a device: use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for but no CUDA device is available; use 'cpu' or 'auto'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 ...)")
    return device


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
    from .models import RDAFNetBase
    if not isinstance(model, RDAFNetBase):
        return None
    per_pixel = BYTES_PER_PIXEL_PER_WIDTH * model.config["width"] * (1.5 if model.num_stages > 1 else 1) + 64
    return int(per_pixel * h * w * batch)


def memory_budget(device: torch.device) -> int:
    """Bytes a pass may use: 80% of the free GPU memory, or half of the available RAM."""
    if device.type == "cuda":
        return int(0.8 * torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        available = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
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
    fitting = [t for t in _AUTO_TILES if t < max(h, w) and frame_bytes(model, t, t, batch_size) <= budget]
    if not fitting:
        return _AUTO_TILES[-1]
    return min(fitting, key=lambda t: (round(tile_work(h, w, t, auto_overlap(t)), 3), -t))


def restore_tensor(x: torch.Tensor, model: torch.nn.Module, *, tile: int | None = None,
                   overlap: int | None = None, batch_size: int = 4, device: str | torch.device | None = None,
                   progress: bool = False, max_memory: int | None = None) -> torch.Tensor:
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
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 16 or tile % 2):
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
            warnings.warn(f"{what} needs about {frame_bytes(model, h, w, b) / 2**30:.1f} GiB, over the "
                          f"{budget / 2**30:.1f} GiB budget: restoring it in {tile} px tiles, overlap {overlap} "
                          "(pass tile= or max_memory= to choose; tiles differ slightly from a whole-frame pass)",
                          RuntimeWarning, stacklevel=2)
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
        raise ValueError(f"tile={tile} with overlap={overlap} plans {n_tiles} tiles, {work:.0f}x the work of one "
                         f"whole-frame pass; use a smaller overlap (default tile // 4) or a larger tile")
    margin = overlap // 4
    acc_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    out = torch.zeros(b, c, h, w, dtype=acc_dtype)      # on the host: only tiles visit the device
    norm = torch.zeros(1, 1, h, w, dtype=acc_dtype)
    jobs = [(i, y, xx) for i in range(b) for y, xx in tile_grid(h, w, tile, overlap)]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="tiles", leave=False, unit="tile")
    pos = 0
    while pos < len(jobs):
        chunk = jobs[pos:pos + batch_size]
        batch = torch.stack([x[i, :, y:y + tile, xx:xx + tile] for i, y, xx in chunk]).to(device, dtype)
        try:
            with torch.no_grad():
                pred = model(batch).to("cpu", acc_dtype)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            if batch_size == 1:
                raise RuntimeError(f"out of GPU memory on one {tile}x{tile} tile; pass a smaller tile "
                                   "(e.g. tile=256) or device='cpu'") from exc
            batch_size = max(1, batch_size // 2)
            continue
        for (i, y, xx), p in zip(chunk, pred):
            th, tw = p.shape[-2:]
            wgt = (_axis_weight(y, tile, h, overlap, margin)[:, None]
                   * _axis_weight(xx, tile, w, overlap, margin)[None]).to(acc_dtype)
            out[i, :, y:y + th, xx:xx + tw] += p * wgt
            if i == 0:
                norm[0, 0, y:y + th, xx:xx + tw] += wgt
        pos += len(chunk)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return (out / norm).to(x.dtype).to(x.device)


def _to_rgb_float(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W[, C]) -> float32 RGB and the alpha channel (or None)."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError("image contains NaN or inf values")
        if arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
            raise ValueError(f"float images must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]; "
                             "divide 8-bit data by 255")
    elif arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    f = to_float(arr)
    alpha = f[..., 3:] if f.shape[2] == 4 else None
    rgb = np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f[..., :3]
    return np.clip(rgb, 0, 1), alpha


Finish = Callable[[torch.Tensor], Any]


def _prepare_array(arr: np.ndarray) -> tuple[torch.Tensor, Finish]:
    """An image array as a (1, 3, H, W) batch, and the function that turns the restored batch back
    into an array of the input's shape and dtype (grayscale stays grayscale, alpha passes through)."""
    rgb, alpha = _to_rgb_float(arr)

    def finish(out: torch.Tensor) -> np.ndarray:
        y = batch_to_image(out)
        if arr.ndim == 2 or arr.shape[2] == 1:
            y = y.mean(axis=2, keepdims=True)
        if alpha is not None:
            y = np.concatenate([y, alpha], axis=2)
        return from_float(y[..., 0] if arr.ndim == 2 else y, arr.dtype)
    return image_to_batch(rgb), finish


def _model_on(model: torch.nn.Module | None, device: str | torch.device | None) -> torch.nn.Module:
    """``model`` (default: the bundled one) on ``device``: a copy when it lives elsewhere, so the caller's
    model stays where it is."""
    model = default_model() if model is None else model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (or None for the bundled model), got "
                        f"{type(model).__name__} {model!r:.60}; to load one by name or path use "
                        "rdafnet.from_pretrained(...)")
    if any(p.is_meta for p in model.parameters()):
        raise ValueError("the model's weights are on the 'meta' device (shapes without values): load real "
                         "weights first (rdafnet.from_pretrained, or model.to_empty(device='cpu') and "
                         "load_state_dict)")
    if device is not None:
        want, have = resolve_device(device), next(model.parameters()).device
        if want.type != have.type or (want.index is not None and want.index != (have.index or 0)):
            model = copy.deepcopy(model).to(want)
    return model


def deblur(image: ImageLike | str | os.PathLike, model: torch.nn.Module | None = None, *,
           tile: int | None = None, overlap: int | None = None, batch_size: int = 4,
           device: str | torch.device | None = None, progress: bool = False, max_memory: int | None = None) -> Any:
    """Remove motion blur from an image.

    ``image``: numpy (H, W[, C]) uint8/uint16/float in [0, 1] with C in 1/3/4, a PIL image,
    a uint8 or float [0, 1] tensor (3, H, W) or (B, 3, H, W), or a file path (read as numpy). The
    result has the input's type, dtype, range and size; grayscale stays grayscale, alpha is passed
    through. ``model=None`` uses the bundled default. ``tile``/``overlap``/``max_memory``: see
    :func:`restore_tensor` (frames too large for memory are tiled automatically).
    The caller's model is left as it was: ``device`` runs a copy there, and training mode is restored.
    """
    model = _model_on(model, device)
    x, finish = prepare(image)
    with _eval_mode(model):
        return finish(restore_tensor(x, model, tile=tile, overlap=overlap, batch_size=batch_size,
                                     progress=progress, max_memory=max_memory))


def iter_deblur(frames: Iterable[Any], model: torch.nn.Module | None = None, *, batch_size: int = 1,
                tile: int | None = None, overlap: int | None = None, device: str | torch.device | None = None,
                max_memory: int | None = None, prefetch: int = 2) -> Iterator[Any]:
    """Restore a stream of images, yielding each result in order, as :func:`deblur` would return it.

    ``frames``: any iterable (a generator, a video decoder, a list) of what :func:`deblur` takes.
    Frames are read ``prefetch`` ahead in a background thread (so decoding overlaps the model) and
    ``batch_size`` consecutive frames of the same size go through the model in one pass (tiles per
    pass when ``tile`` is given). At most ``prefetch + batch_size`` frames are held at any time, so
    memory stays flat for a stream of any length.
    """
    if batch_size < 1 or prefetch < 1:
        raise ValueError(f"batch_size and prefetch must be >= 1, got {batch_size} and {prefetch}")
    model = _model_on(model, device)
    pending: list[tuple[torch.Tensor, Finish]] = []

    def flush() -> Iterator[Any]:
        x = torch.cat([t for t, _ in pending])
        y = restore_tensor(x, model, tile=tile, overlap=overlap, batch_size=batch_size, max_memory=max_memory)
        outs = [finish(part) for (_, finish), part in zip(pending, y.split([t.shape[0] for t, _ in pending]))]
        pending.clear()
        yield from outs

    with _eval_mode(model):
        for item in prefetched((prepare(f) for f in frames), depth=prefetch):
            if pending and item[0].shape[1:] != pending[0][0].shape[1:]:
                yield from flush()
            pending.append(item)
            if sum(t.shape[0] for t, _ in pending) >= batch_size:
                yield from flush()
        if pending:
            yield from flush()


def prefetched(items: Iterable[Any], *, depth: int) -> Iterator[Any]:
    """``items`` produced ``depth`` ahead by a background thread; its exceptions re-raised here."""
    import queue
    import threading
    q: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:          # noqa: BLE001 - handed to the consumer
            q.put((done, exc))

    thread = threading.Thread(target=produce, daemon=True, name="rdafnet-prefetch")
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():               # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


class _eval_mode:
    """Run in eval mode, then restore the model's training flag."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.was = model, model.training

    def __enter__(self) -> None:
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was)


def _prepare_tensor(image: torch.Tensor) -> tuple[torch.Tensor, Finish]:
    """A (3, H, W) or (B, 3, H, W) uint8 or float [0, 1] tensor as float32 (B, 3, H, W) in [0, 1]."""
    if image.is_meta:
        raise ValueError("the image is a 'meta' tensor (a shape without values): pass a tensor with data")
    if image.dtype == torch.uint8:
        x = image.float() / 255
    elif image.is_floating_point():
        x = image.float()
        if torch.isfinite(x).all() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
            raise ValueError(f"float tensors must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}]; "
                             "divide 8-bit data by 255 (or pass the uint8 tensor itself)")
    else:
        raise ValueError(f"unsupported tensor dtype {image.dtype}; use uint8 or a float tensor in [0, 1]")

    def finish(y: torch.Tensor) -> torch.Tensor:
        y = y[0] if image.dim() == 3 else y
        if image.dtype == torch.uint8:
            return (y * 255).round_().clamp_(0, 255).to(torch.uint8)
        return y.to(image.dtype)
    return (x[None] if x.dim() == 3 else x), finish


# PIL modes: how each is handed to the network, and how the result goes back to that mode
_PIL_AS = {"RGB": "RGB", "L": "L", "RGBA": "RGBA", "LA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "RGBX": "RGB",
           "I;16": None, "I": None, "F": None, "P": "RGB"}


def _prepare_pil(image: Image.Image) -> tuple[torch.Tensor, Finish]:
    """A PIL image in; the finished result has the same mode (and size, ICC profile and EXIF)."""
    mode = image.mode
    if getattr(image, "n_frames", 1) > 1:
        raise ValueError(f"this image holds {image.n_frames} frames (an animation); restore them one by one "
                         "(PIL.ImageSequence.Iterator) or with rdafnet.iter_deblur")
    if mode not in _PIL_AS or (mode == "P" and "transparency" in image.info):
        raise ValueError(f"PIL mode {mode!r} is not supported; convert the image to 'RGB' (or 'RGBA') first")
    if mode in ("I;16", "I", "F"):            # one channel of 16-bit integers or floats: numpy keeps them
        arr = np.asarray(image)
        if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError("a PIL 'I' image with values outside 0..65535; convert it to 'I;16' or 'F' first")
        arr = arr.astype(np.uint16) if mode == "I" else arr
    else:
        arr = np.asarray(image.convert(_PIL_AS[mode]))
    x, finish_array = _prepare_array(arr)

    def finish(y: torch.Tensor) -> Image.Image:
        out = Image.fromarray(finish_array(y))
        if mode == "I":
            out = out.convert("I")
        elif mode == "P":                     # back onto the image's own palette
            out = out.quantize(palette=image, dither=Image.Dither.NONE)
        elif out.mode != mode and mode not in ("I;16", "F"):
            out = out.convert(mode)
        for key in ("icc_profile", "exif", "dpi"):
            if key in image.info:
                out.info[key] = image.info[key]
        return out
    return x, finish


def prepare(image: Any) -> tuple[torch.Tensor, Finish]:
    """Any image :func:`deblur` takes as a float32 (B, 3, H, W) [0, 1] batch, and the function that
    turns the restored batch into the result (the input's type, dtype, range and size)."""
    if isinstance(image, (str, os.PathLike)):
        return _prepare_array(read_image(image))
    if isinstance(image, np.ndarray):
        return _prepare_array(image)
    if isinstance(image, Image.Image):
        return _prepare_pil(image)
    if isinstance(image, torch.Tensor):
        return _prepare_tensor(image)
    raise ValueError(f"unsupported image type {type(image).__name__}; pass a numpy array, PIL image, "
                     "torch tensor or file path")
