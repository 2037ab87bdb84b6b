"""``deblur()``: any image type in, the same type out; whole-frame or tiled inference."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from rdafnet.inference.convert import Finish, ImageLike, prepare
from rdafnet.inference.tiling import restore_tensor
from rdafnet.utils.device import resolve_device

_DEFAULT_MODEL: dict[str, torch.nn.Module] = {}


def default_model() -> torch.nn.Module:
    """The bundled pretrained model, loaded once per process, optimized with ``precision="auto"`` (the
    fastest precision on this CPU: fp32, or bf16 where measured faster, within 1 grey level)."""
    if "m" not in _DEFAULT_MODEL:
        from rdafnet.ops import optimize
        from rdafnet.weights.hub import from_pretrained

        _DEFAULT_MODEL["m"] = optimize(from_pretrained(), precision="auto")
    return _DEFAULT_MODEL["m"]


def _model_on(model: torch.nn.Module | None, device: str | torch.device | None) -> torch.nn.Module:
    """``model`` (default: the bundled one) on ``device``: a copy when it lives elsewhere, so the caller's
    model stays where it is."""
    model = default_model() if model is None else model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module (or None for the bundled model), got "
            f"{type(model).__name__} {model!r:.60}; to load one by name or path use "
            "rdafnet.from_pretrained(...)"
        )
    if any(p.is_meta for p in model.parameters()):
        raise ValueError(
            "the model's weights are on the 'meta' device (shapes without values): load real "
            "weights first (rdafnet.from_pretrained, or model.to_empty(device='cpu') and "
            "load_state_dict)"
        )
    if device is not None:
        want, have = resolve_device(device), next(model.parameters()).device
        if want.type != have.type or (want.index is not None and want.index != (have.index or 0)):
            model = copy.deepcopy(model).to(want)
    return model


def deblur(
    image: ImageLike | str | os.PathLike,
    model: torch.nn.Module | None = None,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = False,
    max_memory: int | None = None,
) -> Any:
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
        return finish(
            restore_tensor(
                x, model, tile=tile, overlap=overlap, batch_size=batch_size, progress=progress, max_memory=max_memory
            )
        )


def iter_deblur(
    frames: Iterable[Any],
    model: torch.nn.Module | None = None,
    *,
    batch_size: int = 1,
    tile: int | None = None,
    overlap: int | None = None,
    device: str | torch.device | None = None,
    max_memory: int | None = None,
    prefetch: int = 2,
) -> Iterator[Any]:
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
        parts = y.split([t.shape[0] for t, _ in pending])
        outs = [finish(part) for (_, finish), part in zip(pending, parts, strict=True)]
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
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
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
        while thread.is_alive():  # unblock a producer waiting on a full queue
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
