"""NIQE, the no-reference quality score of Mittal, Soundararajan and Bovik ("Making a 'Completely Blind'
Image Quality Analyzer", IEEE SPL 2013), as MATLAB's ``niqe`` computes it: the authors of RDAFNet score
real photos with it (``evaluate_NIQE_NRISA.m``). Lower is better (more natural).

The image is converted to grey as MATLAB's ``rgb2gray`` does for uint8 images, cropped to whole 96x96
blocks, normalised by local mean and contrast (eq. 1), and described per block at two scales by 18
generalized-Gaussian features each (eqs. 2-8); the score is the distance (eq. 10) between the
multivariate Gaussian of these features and the one fitted to pristine images. The pristine model
(``assets/niqe_pris_params.npz``) is data from BasicSR (Apache-2.0), the values of the MATLAB release.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from importlib import resources
from io import BytesIO

import numpy as np

__all__ = ["niqe", "niqe_features", "BLOCK"]
BLOCK = 96  # the block size of the pristine model
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])  # MATLAB's rgb2gray
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical and both diagonal neighbours


@lru_cache(maxsize=1)
def _pristine() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = resources.files("rdafnet").joinpath("assets/niqe_pris_params.npz").read_bytes()
    with np.load(BytesIO(data)) as p:
        return p["mu_pris_param"].ravel(), p["cov_pris_param"], p["gaussian_window"]


@lru_cache(maxsize=1)
def _gamma_table() -> tuple[np.ndarray, np.ndarray]:
    """The shape grid searched for the generalized-Gaussian fit and its moment ratio r(alpha)."""
    gam = np.arange(0.2, 10.001, 0.001)
    return gam, _gamma(2 / gam) ** 2 / (_gamma(1 / gam) * _gamma(3 / gam))


def _gamma(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.gamma, otypes=[float])(x)


def to_gray255(image: np.ndarray) -> np.ndarray:
    """An (H, W[, 3]) image (uint8, uint16, or float in [0, 1]) as MATLAB's uint8 grey values, float64."""
    x = np.asarray(image)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {x.shape}")
    if x.dtype == np.uint8:
        v = x.astype(np.float64)
    elif x.dtype == np.uint16:
        v = np.round(x.astype(np.float64) * (255.0 / 65535.0))
    elif np.issubdtype(x.dtype, np.floating):
        if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
            raise ValueError("float images must lie in [0, 1]; pass uint8 for 0..255 data")
        v = np.round(x.astype(np.float64) * 255.0)  # as the image would be saved
    else:
        raise ValueError(f"unsupported image dtype {x.dtype}; pass uint8, uint16 or float in [0, 1]")
    return np.round(v @ _RGB2GRAY) if v.ndim == 3 else v


def _filter_replicate(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``imfilter(img, window, 'replicate')`` (correlation, borders repeated)."""
    r = window.shape[0] // 2
    p = np.pad(img, r, mode="edge")
    out = np.zeros_like(img)
    h, w = img.shape
    for i in range(window.shape[0]):
        for j in range(window.shape[1]):
            out += window[i, j] * p[i : i + h, j : j + w]
    return out


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return (1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1) + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2))


def _resize_matrix(n: int, scale: float) -> np.ndarray:
    """The (ceil(n * scale), n) matrix of MATLAB's bicubic ``imresize`` along one axis, with its
    antialiasing (a kernel widened by 1 / scale) and symmetric borders."""
    out = math.ceil(n * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, out + 1) / scale + 0.5 * (1 - 1 / scale)
    idx = np.floor(u - width / 2)[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    wts = scale * _cubic(scale * (u[:, None] - idx)) if scale < 1 else _cubic(u[:, None] - idx)
    wts /= wts.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n)]
    m = np.zeros((out, n))
    np.add.at(m, (np.repeat(np.arange(out), idx.shape[1]), cols.ravel()), wts.ravel())
    return m


def imresize_half(img: np.ndarray) -> np.ndarray:
    """MATLAB's ``imresize(img, 0.5)`` (bicubic, antialiased) of a 2-D float array."""
    return _resize_matrix(img.shape[0], 0.5) @ img @ _resize_matrix(img.shape[1], 0.5).T


def _aggd(x: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric generalized-Gaussian fit (shape alpha, left and right scale) of each row of ``x``
    by moment matching over a 0.001 grid of shapes, as the MATLAB code does."""
    gam, r_gam = _gamma_table()
    with np.errstate(divide="ignore", invalid="ignore"):
        neg, pos = x < 0, x > 0
        left = np.sqrt((x * x * neg).sum(1) / neg.sum(1))
        right = np.sqrt((x * x * pos).sum(1) / pos.sum(1))
        g = left / right
        rhat = np.mean(np.abs(x), 1) ** 2 / np.mean(x * x, 1)
        rnorm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
        pos_ = (
            np.concatenate(
                [
                    np.argmin((r_gam[None, :] - rnorm[i : i + chunk, None]) ** 2, axis=1)
                    for i in range(0, len(rnorm), chunk)
                ]
            )
            if len(rnorm)
            else np.zeros(0, int)
        )
        alpha = gam[pos_]
        k = np.sqrt(_gamma(1 / alpha) / _gamma(3 / alpha))
    return alpha, left * k, right * k


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """The 18 features of each normalised block (N, b, b): the fit of the coefficients (eq. 2), then
    of the products with each of four neighbours (eqs. 5-8)."""
    n = len(blocks)
    flat = blocks.reshape(n, -1)
    alpha, bl, br = _aggd(flat)
    feats = [alpha, (bl + br) / 2]
    for shift in _SHIFTS:
        prod = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(n, -1)
        alpha, bl, br = _aggd(prod)
        with np.errstate(invalid="ignore"):
            mean = (br - bl) * (_gamma(2 / alpha) / _gamma(1 / alpha))
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def niqe_features(gray: np.ndarray, *, block: int = BLOCK) -> np.ndarray:
    """The (blocks, 36) features of a grey image (float64 on a 0..255 scale), both scales side by side."""
    h, w = (gray.shape[0] // block) * block, (gray.shape[1] // block) * block
    if h == 0 or w == 0:
        raise ValueError(f"NIQE needs an image of at least {block}x{block} pixels, got {gray.shape[1]}x{gray.shape[0]}")
    img = np.asarray(gray, np.float64)[:h, :w]
    window = _pristine()[2]
    per_scale = []
    for scale in (1, 2):
        mu = _filter_replicate(img, window)
        sigma = np.sqrt(np.abs(_filter_replicate(img * img, window) - mu * mu))
        mscn = (img - mu) / (sigma + 1)  # eq. 1
        b = block // scale
        blocks = mscn.reshape(h // block, b, w // block, b).transpose(0, 2, 1, 3).reshape(-1, b, b)
        per_scale.append(_block_features(blocks))
        if scale == 1:
            img = imresize_half(img / 255.0) * 255.0
    return np.concatenate(per_scale, axis=1)


def niqe(image: np.ndarray | str | os.PathLike, *, crop_border: int = 0) -> float:
    """NIQE of an image (a path, or an (H, W[, 3]) uint8 / uint16 / float [0, 1] array) as MATLAB's
    ``niqe(imread(path))`` gives it: RGB goes to grey as ``rgb2gray`` does, at least 96x96 pixels.
    Lower is better."""
    if isinstance(image, (str, os.PathLike)):
        from rdafnet.io.image import read_image

        image = read_image(image)
    gray = to_gray255(image)
    if crop_border:
        gray = gray[crop_border:-crop_border, crop_border:-crop_border]
    feats = niqe_features(gray)
    mu_p, cov_p, _ = _pristine()
    complete = feats[~np.isnan(feats).any(axis=1)]  # MATLAB's nancov: complete rows only
    if len(complete) == 0:
        raise ValueError(
            "NIQE is undefined for this image: no 96x96 block has finite statistics (a flat or constant image?)"
        )
    mu_d = np.nanmean(feats, axis=0)
    # with a single block MATLAB's cov normalises by 1, giving zeros (numpy's would divide by 0)
    cov_d = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros((feats.shape[1],) * 2)
    d = mu_p - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov_d) / 2) @ d))  # eq. 10
