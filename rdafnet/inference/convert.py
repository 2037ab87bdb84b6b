"""Any image type to a [0, 1] batch and back: numpy arrays, PIL images and tensors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from rdafnet.io.image import from_float, read_image, to_float
from rdafnet.utils.tensor import batch_to_image, image_to_batch

ImageLike = TypeVar("ImageLike", np.ndarray, torch.Tensor, Image.Image)


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
            raise ValueError(
                f"float images must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]; divide 8-bit data by 255"
            )
    elif arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    f = to_float(arr)
    alpha = f[..., 3:] if f.shape[2] == 4 else None
    rgb = np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f[..., :3]
    return np.clip(rgb, 0, 1), alpha


Finish = Callable[[torch.Tensor], Any]


def _prepare_array(arr: np.ndarray) -> tuple[torch.Tensor, Finish]:
    """An image array as a (1, 3, H, W) batch, and the function that turns the restored batch back
    into an array of the input's shape and dtype (grayscale stays grayscale, alpha passes through).
    A big-endian array comes back in the machine's byte order."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    rgb, alpha = _to_rgb_float(arr)

    def finish(out: torch.Tensor) -> np.ndarray:
        y = batch_to_image(out)
        if arr.ndim == 2 or arr.shape[2] == 1:
            y = y.mean(axis=2, keepdims=True)
        if alpha is not None:
            y = np.concatenate([y, alpha], axis=2)
        return from_float(y[..., 0] if arr.ndim == 2 else y, arr.dtype)

    return image_to_batch(rgb), finish


def _prepare_tensor(image: torch.Tensor) -> tuple[torch.Tensor, Finish]:
    """A (3, H, W) or (B, 3, H, W) uint8 or float [0, 1] tensor as float32 (B, 3, H, W) in [0, 1]."""
    if image.is_meta:
        raise ValueError("the image is a 'meta' tensor (a shape without values): pass a tensor with data")
    if image.dtype == torch.uint8:
        x = image.float() / 255
    elif image.is_floating_point():
        x = image.float()
        if torch.isfinite(x).all() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
            raise ValueError(
                f"float tensors must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}]; "
                "divide 8-bit data by 255 (or pass the uint8 tensor itself)"
            )
    else:
        raise ValueError(f"unsupported tensor dtype {image.dtype}; use uint8 or a float tensor in [0, 1]")

    def finish(y: torch.Tensor) -> torch.Tensor:
        y = y[0] if image.dim() == 3 else y
        if image.dtype == torch.uint8:
            return (y * 255).round_().clamp_(0, 255).to(torch.uint8)
        return y.to(image.dtype)

    return (x[None] if x.dim() == 3 else x), finish


# PIL modes: how each is handed to the network, and how the result goes back to that mode
_PIL_AS = {
    "RGB": "RGB",
    "L": "L",
    "RGBA": "RGBA",
    "LA": "RGBA",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "RGBX": "RGB",
    "I;16": None,
    "I": None,
    "F": None,
    "P": "RGB",
}


def _prepare_pil(image: Image.Image) -> tuple[torch.Tensor, Finish]:
    """A PIL image in; the finished result has the same mode (and size, ICC profile and EXIF)."""
    mode = image.mode
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise ValueError(
            f"this image holds {frames} frames (an animation); restore them one by one "
            "(PIL.ImageSequence.Iterator) or with rdafnet.iter_deblur"
        )
    if mode not in _PIL_AS or (mode == "P" and "transparency" in image.info):
        raise ValueError(f"PIL mode {mode!r} is not supported; convert the image to 'RGB' (or 'RGBA') first")
    if mode in ("I;16", "I", "F"):  # one channel of 16-bit integers or floats: numpy keeps them
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
        elif mode == "P":  # back onto the image's own palette
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
    raise ValueError(
        f"unsupported image type {type(image).__name__}; pass a numpy array, PIL image, torch tensor or file path"
    )
