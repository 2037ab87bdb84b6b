"""The decompression-bomb guard (how many pixels a file may declare before decoding) and the read error."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image


class ImageReadError(ValueError):
    """A file that is not a readable image; the message names the file."""


#: The most pixels an image file may declare before it is decoded (Pillow's guard against decompression
#: bombs, about 179 MP); :func:`set_max_pixels` (CLI: ``--max-pixels``) raises it for real large photos.
_LIMIT = {"pixels": 178_956_970}


def set_max_pixels(pixels: int) -> None:
    """Allow images that declare up to ``pixels`` pixels (default 178,956,970): a file declaring more is
    refused before it is decoded. Raise it for real gigapixel photos; they are restored in tiles within
    the memory guard."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
        raise ValueError(f"max pixels must be a positive integer, got {pixels!r}")
    _LIMIT["pixels"] = pixels


def max_pixels() -> int:
    """The most pixels an image file may declare (:func:`set_max_pixels`)."""
    return _LIMIT["pixels"]


def check_pixels(path: Path, h: int, w: int) -> None:
    if h * w > _LIMIT["pixels"]:
        raise ImageReadError(
            f"{path} declares {w}x{h} pixels ({h * w / 1e6:.0f} MP), over the {_LIMIT['pixels'] / 1e6:.0f} MP limit "
            f"that guards against decompression bombs; if it is a real photo, allow it with --max-pixels "
            f"{h * w} (rdafnet.io.set_max_pixels) and it is restored in tiles"
        )


def open_image(path: Path) -> Image.Image:
    """``Image.open`` with this module's size limit instead of Pillow's (checked from the header)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            im = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    check_pixels(path, im.size[1], im.size[0])
    return im
