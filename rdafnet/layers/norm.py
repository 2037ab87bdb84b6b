"""Instance normalisation with whole-image or local (windowed) statistics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _box_mean(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Mean over a kh x kw window kept inside the image (windows at borders are shifted inwards)."""
    # summed-area table in float64: O(1) per pixel for any window, no cancellation trouble
    c = F.pad(x.double(), (1, 0, 1, 0)).cumsum_(-2).cumsum_(-1)
    m = (c[..., kh:, kw:] - c[..., :-kh, kw:] - c[..., kh:, :-kw] + c[..., :-kh, :-kw]).div_(kh * kw).to(x.dtype)
    ph, pw = x.shape[-2] - m.shape[-2], x.shape[-1] - m.shape[-1]
    return F.pad(m, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")


def instance_norm(x: torch.Tensor, *, eps: float = 1e-5, window: int | None = None) -> torch.Tensor:
    """Instance norm without affine parameters.

    ``window=None``: statistics over the whole image (the published network). ``window=k``:
    statistics over the k x k neighbourhood of each pixel (test-time local statistics, Chu et al.
    2022, "Improving Image Restoration by Revisiting Global Information Aggregation"), which
    makes results on large images and tiles consistent with training on k x k crops.
    """
    h, w = x.shape[-2:]
    if window is None or (h <= window and w <= window):
        return F.instance_norm(x, eps=eps)
    kh, kw = min(window, h), min(window, w)
    xc = x - x.mean(dim=(-2, -1), keepdim=True)  # centre first: less cancellation in E[x^2]-E[x]^2
    mean = _box_mean(xc, kh, kw)
    var = (_box_mean(xc * xc, kh, kw) - mean * mean).clamp_min(0)
    return (xc - mean) * torch.rsqrt(var + eps)


class NormWindow:
    """A layer whose instance norms can use local statistics: ``norm_window`` (feature pixels, or
    ``None`` for whole maps) and ``feature_stride`` (input pixels per feature pixel)."""

    norm_window: int | None = None
    feature_stride: int = 1


def set_norm_window(model: nn.Module, window: int | None) -> nn.Module:
    """Switch every :class:`NormWindow` layer of ``model`` (the RDAFBs) to local statistics over
    ``window`` pixels of the input image (``None`` restores whole-image statistics); each layer
    divides by its own ``feature_stride`` (2 for the networks' blocks, 1 for a block used alone).
    Returns ``model``."""
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 2):
        raise ValueError(f"window must be an integer >= 2 (input pixels) or None, got {window!r}")
    for m in model.modules():
        if isinstance(m, NormWindow):
            m.norm_window = None if window is None else max(2, window // m.feature_stride)
    return model
