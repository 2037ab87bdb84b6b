"""PSNR and SSIM with the deblurring papers' convention (RGB, data range 255, Gaussian 11x11, sigma 1.5);
NIQE for photos without a reference (:mod:`rdafnet.evaluation.niqe`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rdafnet.evaluation.niqe import niqe  # noqa: F401 - the no-reference score, re-exported beside PSNR/SSIM


def _as_255(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float64)
    if x.dtype == np.uint16:
        return x.astype(np.float64) * (255.0 / 65535.0)
    return np.asarray(x, np.float64) * 255.0


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images (uint8, uint16, or float in [0, 1]) on a 0-255 scale."""
    _check(a, b)
    mse = np.mean((_as_255(a) - _as_255(b)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=dtype) - size // 2) ** 2) / (2 * sigma**2))
    return g / g.sum()


def ssim_torch(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image of (B, C, H, W) batches: Gaussian 11x11 window, sigma 1.5, valid region."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    c = a.shape[1]
    g = _gaussian_window(dtype=a.dtype).to(a.device)
    gx, gy = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    filt = lambda t: F.conv2d(F.conv2d(t, gx, groups=c), gy, groups=c)  # noqa: E731
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))


def psnr_torch(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB per image of (B, C, H, W) batches."""
    mse = (a - b).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W[, C]) images on a 0-255 scale, averaged over channels (skimage's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``)."""
    _check(a, b)
    to_t = lambda x: torch.from_numpy(_as_255(x).reshape(*x.shape[:2], -1).transpose(2, 0, 1).copy())[None]  # noqa: E731
    return float(ssim_torch(to_t(a), to_t(b), data_range=255.0)[0])
