"""Image files <-> numpy arrays: EXIF orientation, 8/16-bit, atomic writes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._atomic import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


class ImageReadError(ValueError):
    """A file that is not a readable image; the message names the file."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as (H, W, C) uint8 or uint16, C in {1, 3, 4}, EXIF orientation applied."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im).astype(np.uint16)
            elif im.mode in ("RGB", "RGBA", "L"):
                arr = np.asarray(im)
            elif im.mode in ("LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                arr = np.asarray(im.convert("RGBA"))
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot read {path} as an image ({exc}); supported: {', '.join(IMAGE_SUFFIXES)}") from exc
    return arr[..., None] if arr.ndim == 2 else arr


def write_image(path: str | os.PathLike, image: np.ndarray, *, overwrite: bool = False, quality: int = 95) -> Path:
    """Write ``image`` (H, W[, C]) uint8 or uint16 atomically (temp file + rename).

    16-bit images need PNG or TIFF, and are stored as 16-bit only for 1 channel (Pillow's limit);
    3/4-channel 16-bit images are reduced to 8 bits with a ``ValueError`` unless the format allows it.
    """
    path = Path(path)
    arr = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if arr.dtype == np.uint16:
        if arr.ndim == 2:
            im = Image.fromarray(arr)
        else:
            raise ValueError(f"cannot write 16-bit colour to {path} with Pillow; convert to 8 bits "
                             "(rdafnet.deblur(..., ) returns the input's dtype) or save a .npy array")
    elif arr.dtype == np.uint8:
        im = Image.fromarray(arr)
    else:
        raise ValueError(f"write_image expects uint8 or uint16, got {arr.dtype}")
    kwargs = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported output format {path.suffix!r} for {path}; use .png, .jpg, .tif")
    return atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **kwargs), overwrite=overwrite)


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16/float (H, W, C) -> float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


def from_float(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float in [0, 1] -> ``dtype`` (rounded and clipped for integer types)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        peak = np.iinfo(dtype).max
        return np.clip(np.rint(image * peak), 0, peak).astype(dtype)
    return image.astype(dtype)
