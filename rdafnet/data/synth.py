"""Making blurry/sharp training pairs: GoPro-style frame averaging and synthetic camera shake."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rdafnet.io.image import from_float, to_float
from rdafnet.utils.tensor import batch_to_image, image_to_batch

GAMMA = 2.2


def to_linear(x: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """Undo the camera's display gamma (float images in [0, 1])."""
    return np.power(np.clip(x, 0, 1), gamma)


def from_linear(x: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    return np.power(np.clip(x, 0, 1), 1.0 / gamma)


def average_frames(frames: Sequence[np.ndarray], *, gamma: float = GAMMA) -> np.ndarray:
    """GoPro-style blur: average consecutive frames in linear light, then re-apply the gamma.

    ``frames`` are (H, W, C) arrays of one integer dtype; the result has the same dtype and is
    truncated to integers, as the GoPro data set was made.
    """
    if len(frames) == 0:
        raise ValueError("average_frames needs at least one frame")
    acc = np.zeros(frames[0].shape, np.float64)
    for f in frames:
        if f.shape != frames[0].shape:
            raise ValueError(f"all frames must have one size, got {f.shape} and {frames[0].shape}")
        acc += to_linear(to_float(f).astype(np.float64), gamma)
    return _truncate(from_linear(acc / len(frames), gamma), frames[0].dtype)


def _truncate(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float [0, 1] -> ``dtype``, truncating to integers as the GoPro data set was made."""
    if dtype.kind in "ui":
        return np.floor(image * np.iinfo(dtype).max + 1e-9).astype(dtype)
    return image.astype(dtype)


def gopro_pair(frames: Sequence[np.ndarray], *, gamma: float = GAMMA) -> tuple[np.ndarray, np.ndarray]:
    """``(blur, sharp)`` from N consecutive frames: the linear-light average and frame N // 2."""
    return average_frames(frames, gamma=gamma), frames[len(frames) // 2]


def shake_trajectory(
    rng: np.random.Generator,
    *,
    length: float = 15.0,
    steps: int = 64,
    anxiety: float | None = None,
    p_big_shake: float = 0.05,
) -> np.ndarray:
    """Random camera-shake trajectory (Boracchi & Foi 2012): a random walk with inertia, random
    accelerations, a pull back towards the start and rare abrupt shakes. Returns (steps, 2) in pixels."""
    anxiety = rng.uniform(0.0, 0.05) if anxiety is None else anxiety
    centripetal = 0.7 * rng.uniform()
    vmax = 1.0
    v = vmax * np.exp(1j * rng.uniform(0, 2 * np.pi))
    pts = np.zeros(steps, np.complex128)
    for t in range(steps - 1):
        big = 2 * v * np.exp(1j * (np.pi + rng.uniform(-0.5, 0.5))) if rng.uniform() < p_big_shake * anxiety * 20 else 0
        dv = big + anxiety * (rng.normal() + 1j * rng.normal()) * vmax - centripetal * pts[t] * 0.05
        v = v + dv
        v = v / max(abs(v), 1e-8) * vmax
        pts[t + 1] = pts[t] + v
    pts -= pts.mean()
    extent = np.abs(pts - pts[0]).max() or 1.0
    pts *= length / (2 * extent)
    return np.stack([pts.real, pts.imag], axis=1)


def trajectory_psf(traj: np.ndarray, *, exposure: float = 1.0) -> np.ndarray:
    """Rasterise the first ``exposure`` fraction of a trajectory into a normalised kernel (bilinear).

    The kernel's centre of mass is its centre pixel: blurring does not shift the image, so the sharp
    photograph stays aligned with the blurry one (as the middle frame of a GoPro average is).
    """
    n = max(2, int(round(len(traj) * exposure)))
    pts = traj[:n]
    # sample densely along the path so the kernel has no gaps; bilinear splatting keeps the centroid
    seg = np.linspace(0, n - 1, 8 * n)
    xs = np.interp(seg, np.arange(n), pts[:, 0])
    ys = np.interp(seg, np.arange(n), pts[:, 1])
    xs, ys = xs - xs.mean(), ys - ys.mean()
    radius = int(np.ceil(max(np.abs(xs).max(), np.abs(ys).max()))) + 1
    size = 2 * radius + 1
    k = np.zeros((size, size))
    x, y = xs + radius, ys + radius
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), w)
    return k / k.sum()


#: Kernels wider than this are applied by FFT: a direct convolution's working memory grows with the
#: kernel's area (a 513 px kernel on a 720p frame asked for 172 GB), the FFT's only with the image.
FFT_ABOVE = 33


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blur a float (H, W, C) image with an odd-sized 2-D kernel (reflect borders)."""
    kh, kw = kernel.shape
    x = image_to_batch(image).double()
    mode = "reflect" if min(image.shape[:2]) > max(kh, kw) // 2 else "replicate"
    x = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode=mode)
    if max(kh, kw) > FFT_ABOVE:
        # circular convolution of the padded image; its rows/columns from kh-1/kw-1 on never wrap
        size = tuple(x.shape[-2:])
        k = torch.fft.rfft2(torch.from_numpy(np.ascontiguousarray(kernel)).double(), s=size)
        y = torch.fft.irfft2(torch.fft.rfft2(x) * k, s=size)
        return batch_to_image(y[..., kh - 1 :, kw - 1 :])
    w = torch.from_numpy(kernel[::-1, ::-1].copy())[None, None].double().repeat(x.shape[1], 1, 1, 1)
    return batch_to_image(F.conv2d(x, w, groups=x.shape[1]))


def _soft_ellipse(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random soft elliptical mask in [0, 1] (the region that moves on its own)."""
    h, w = shape
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    ry, rx = rng.uniform(0.1, 0.35) * h, rng.uniform(0.1, 0.35) * w
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(1.5 - ((yy - cy) / ry) ** 2 - ((xx - cx) / rx) ** 2, 0, 1)


#: The longest shake ``synthetic_blur`` accepts (pixels).
MAX_SHAKE = 1024


def synthetic_blur(
    sharp: np.ndarray,
    rng: np.random.Generator,
    *,
    max_length: float = 25.0,
    moving_region_p: float = 0.3,
    noise_p: float = 0.7,
    jpeg_p: float = 0.3,
    sharp_p: float = 0.05,
) -> np.ndarray:
    """Blur a sharp photograph with random camera shake in linear light.

    With probability ``moving_region_p`` a soft elliptical region gets its own motion (spatially
    varying blur). Optional Poisson-Gaussian sensor noise and JPEG compression follow. With
    probability ``sharp_p`` the blur is tiny (nearly-sharp samples teach the net to leave them).
    Returns an array of ``sharp``'s dtype and shape.
    """
    if not 3 <= max_length <= MAX_SHAKE:
        raise ValueError(f"max_length must be from 3 to {MAX_SHAKE} pixels, got {max_length}")
    for name, prob in (
        ("moving_region_p", moving_region_p),
        ("noise_p", noise_p),
        ("jpeg_p", jpeg_p),
        ("sharp_p", sharp_p),
    ):
        if not 0 <= prob <= 1:
            raise ValueError(f"{name} is a probability in [0, 1], got {prob}")
    x = to_linear(to_float(sharp).astype(np.float64))
    length = rng.uniform(0.5, 2.0) if rng.uniform() < sharp_p else rng.uniform(3.0, max_length)
    blurred = convolve(x, trajectory_psf(shake_trajectory(rng, length=length), exposure=rng.uniform(0.5, 1.0)))
    if rng.uniform() < moving_region_p:
        mask = _soft_ellipse(x.shape[:2], rng)[..., None]
        other = convolve(x, trajectory_psf(shake_trajectory(rng, length=rng.uniform(3.0, max_length))))
        blurred = mask * other + (1 - mask) * blurred
    if rng.uniform() < noise_p:
        peak = rng.uniform(200, 2000)  # photons at white: shot noise
        blurred = rng.poisson(np.clip(blurred, 0, 1) * peak) / peak
        blurred = blurred + rng.normal(0, rng.uniform(0, 0.005), blurred.shape)  # read noise
    out = from_float(from_linear(blurred), sharp.dtype)
    if rng.uniform() < jpeg_p and out.dtype == np.uint8 and out.shape[2] == 3:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(60, 96)))
        out = np.asarray(Image.open(buf).convert("RGB"))
    return out


def _warped(image: np.ndarray, matrices: np.ndarray) -> Iterator[np.ndarray]:
    """Resample a float (H, W, C) image under each of T pixel-space 2x3 maps (output pixel -> source
    pixel, about the image centre), bilinear with reflected borders; yields T (H, W, C) float64
    frames, one at a time."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pts = np.stack([xs - (w - 1) / 2, ys - (h - 1) / 2, np.ones_like(xs)], -1)  # (H, W, 3)
    del ys, xs  # held while the frames are drawn
    x = image_to_batch(image).double()
    for m in matrices:
        src = pts @ m.T  # (H, W, 2)
        grid = np.stack([src[..., 0] / ((w - 1) / 2), src[..., 1] / ((h - 1) / 2)], -1)  # [-1, 1]
        out = F.grid_sample(
            x, torch.from_numpy(grid)[None], mode="bilinear", padding_mode="reflection", align_corners=True
        )
        yield batch_to_image(out)


def camera_motion_blur(
    sharp: np.ndarray,
    rng: np.random.Generator,
    *,
    n_min: int = 7,
    n_max: int = 13,
    max_speed: float = 3.0,
    max_accel: float = 0.15,
    max_rotation: float = 0.1,
    max_zoom: float = 0.001,
    moving_region_p: float = 0.3,
    gamma: float = GAMMA,
) -> np.ndarray:
    """GoPro-style blur of one sharp frame by simulated camera motion: the frame is moved along a
    smooth random path (translation with acceleration, rotation about the centre, zoom) through N
    high-frame-rate frames, which are averaged in linear light and truncated like GoPro's.

    The sharp frame is the middle one (N // 2), so it is aligned with the blurry image. Speeds are
    per frame: ``max_speed`` pixels, ``max_rotation`` degrees, ``max_zoom`` relative scale. Rotation
    and zoom make the blur grow away from the centre (spatially varying, as in handheld video); with
    probability ``moving_region_p`` a soft elliptical region also moves on its own.
    """
    n = int(rng.integers(n_min, n_max + 1))
    t = np.arange(n, dtype=np.float64) - n // 2
    speed = rng.uniform(0, max_speed) * np.exp(1j * rng.uniform(0, 2 * np.pi))
    accel = rng.uniform(0, max_accel) * np.exp(1j * rng.uniform(0, 2 * np.pi))
    shift = speed * t + accel * t**2 / 2
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation)) * t
    scale = np.exp(rng.uniform(-max_zoom, max_zoom) * t)
    # source = R(-angle) (p - shift) / scale, for p about the centre
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    mats = np.stack(
        [
            np.stack([c, s, -(c * shift.real + s * shift.imag)], -1),
            np.stack([-s, c, s * shift.real - c * shift.imag], -1),
        ],
        1,
    )
    x = to_linear(to_float(sharp).astype(np.float64), gamma)
    region = None
    if rng.uniform() < moving_region_p:
        own = rng.uniform(0.5, 1.0) * max_speed * np.exp(1j * rng.uniform(0, 2 * np.pi)) * t + shift
        obj = np.zeros((n, 2, 3))
        obj[:, 0, 0] = obj[:, 1, 1] = 1
        obj[:, 0, 2], obj[:, 1, 2] = -own.real, -own.imag
        region = (np.concatenate([x, _soft_ellipse(x.shape[:2], rng)[..., None]], -1), obj)
    total = np.zeros_like(x)
    moving = _warped(*region) if region is not None else None
    for frame in _warped(x, mats):  # one frame at a time, resampled in linear light
        if moving is not None:
            moved = next(moving)
            frame = moved[..., -1:] * moved[..., :-1] + (1 - moved[..., -1:]) * frame
        total += frame
    return _truncate(from_linear(total / n, gamma), sharp.dtype)
