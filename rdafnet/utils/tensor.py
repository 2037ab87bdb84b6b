"""Input checks, size padding and image <-> tensor layout, shared by the networks, inference,
training and synthesis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

#: how far outside [0, 1] an input may stray (rounding of a resize or colour conversion) before it is refused
RANGE_SLACK = 1e-3


def image_to_batch(image: np.ndarray) -> torch.Tensor:
    """An (H, W, C) array as a (1, C, H, W) tensor of its own (the array is not shared)."""
    arr = np.ascontiguousarray(rearrange(image, "h w c -> 1 c h w"))
    return torch.from_numpy(arr if arr.flags.writeable and not np.may_share_memory(arr, image) else arr.copy())


def batch_to_image(x: torch.Tensor) -> np.ndarray:
    """The first image of a (B, C, H, W) tensor as an (H, W, C) array (on the CPU, no autograd)."""
    return rearrange(x[0].detach().cpu().numpy(), "c h w -> h w c")


def check_image_batch(x: torch.Tensor, *, channels: int = 3) -> None:
    """Raise ``ValueError`` unless ``x`` is a finite float (B, channels, H, W) tensor with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape (B, {channels}, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"expected a 4-D tensor (B, {channels}, H, W), got shape {tuple(x.shape)}{hint}")
    if x.shape[1] != channels:
        raise ValueError(
            f"expected {channels} channels (B, {channels}, H, W), got shape {tuple(x.shape)}; "
            "convert grayscale/RGBA images to RGB first (rdafnet.deblur does this for you)"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"expected a floating-point tensor in [0, 1], got dtype {x.dtype}; use x.float() / 255 for 8-bit images"
        )
    if x.numel() == 0:
        raise ValueError(f"expected a non-empty image batch, got shape {tuple(x.shape)}")
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))  # one pass: NaN propagates, inf is a bound
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("input contains NaN or inf values; clean the image before restoring it")
    if lo < -RANGE_SLACK or hi > 1 + RANGE_SLACK:
        raise ValueError(
            f"expected values in [0, 1], got [{lo:.4g}, {hi:.4g}]; divide 8-bit data by 255 "
            "(16-bit by 65535), or pass the image array itself to rdafnet.deblur"
        )


def check_count(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer (not a bool or a float) >= ``minimum``; else a ``ValueError`` naming it."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def pad_to_multiple(x: torch.Tensor, multiple: int, *, min_size: int = 1) -> torch.Tensor:
    """Pad the bottom/right of ``x`` so H and W are multiples of ``multiple`` and >= ``min_size``.

    Reflect padding where the image is large enough, replicate padding otherwise. Sizes that
    already fit are returned unchanged (no copy), so even-sized inputs are never padded.
    """
    h, w = x.shape[-2:]
    th = max(-(-h // multiple) * multiple, -(-min_size // multiple) * multiple)
    tw = max(-(-w // multiple) * multiple, -(-min_size // multiple) * multiple)
    ph, pw = th - h, tw - w
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def centre_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The central ``height`` x ``width`` of ``x`` (..., H, W), or all of a side that is shorter (a view)."""
    h, w = x.shape[-2:]
    top, left = max(0, (h - height) // 2), max(0, (w - width) // 2)
    return x[..., top : top + height, left : left + width]
