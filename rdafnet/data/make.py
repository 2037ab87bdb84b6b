"""Write training pairs to disk: ``<out>/blur/NAME.png`` and ``<out>/sharp/NAME.png``."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from rdafnet.data.synth import camera_motion_blur, gopro_pair, synthetic_blur
from rdafnet.io.image import IMAGE_SUFFIXES, read_image, write_image
from rdafnet.utils.naming import natural_key


class SkippedImageWarning(UserWarning):
    """An input image could not be read; the pairs it would have given are left out."""


MOTIONS: dict[str, Callable[..., np.ndarray]] = {"shake": synthetic_blur, "camera": camera_motion_blur}


def _image_files(folder: Path) -> list[Path]:
    files = sorted((p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def pairs_from_frames(
    frames_dir: str | os.PathLike, *, n_min: int = 7, n_max: int = 13, seed: int = 0, prefix: str | None = None
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """GoPro-style pairs from consecutive high-frame-rate frames, in non-overlapping windows of a
    random length N in [n_min, n_max]. Names follow GoPro's ``<seq>_st_frame-S_n_avg-N``: the pair
    averages the frames numbered S+1 ... S+N, its sharp frame is number S+1+N//2. Frames are taken in
    the order of their numbers (``2`` before ``10``). Fewer frames than ``n_min`` is an error that says so."""
    files = _image_files(Path(frames_dir))
    if len(files) < n_min:
        raise ValueError(
            f"{frames_dir} holds {len(files)} frame(s), fewer than the {n_min} one pair averages (--n-min): "
            "pass a folder with more consecutive frames, or a smaller --n-min"
        )
    return _frame_windows(files, n_min, n_max, seed, prefix or Path(frames_dir).name)


def _frame_windows(
    files: list[Path], n_min: int, n_max: int, seed: int, prefix: str
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    i = 0
    while True:
        n = int(rng.integers(n_min, n_max + 1))
        if i + n > len(files):
            return
        window = files[i : i + n]
        m = re.search(r"(\d+)$", window[0].stem)
        start = int(m[1]) - 1 if m else i
        try:
            blur, sharp = gopro_pair([read_image(f) for f in window])
        except ValueError as exc:  # an unreadable frame, or one of another size: this window only
            warnings.warn(f"skipping frames {window[0].name} ... {window[-1].name}: {exc}", SkippedImageWarning, 2)
            i += n
            continue
        yield f"{prefix}_st_frame-{start}_n_avg-{n}", blur, sharp
        i += n


def pairs_from_sharp(
    images_dir: str | os.PathLike,
    *,
    per_image: int = 1,
    seed: int = 0,
    max_side: int | None = None,
    motion: str = "shake",
    **blur_kwargs,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Synthetic pairs from sharp photographs: ``motion="shake"`` blurs with a camera-shake kernel
    (``synthetic_blur``), ``"camera"`` averages frames of simulated camera motion
    (``camera_motion_blur``); ``blur_kwargs`` go to that function."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; choose one of {', '.join(MOTIONS)}")
    blur_fn = MOTIONS[motion]
    for f in _image_files(Path(images_dir)):
        try:
            sharp = read_image(f)
        except ValueError as exc:  # one unreadable photo among many: the others still make pairs
            warnings.warn(f"skipping {f}: {exc}", SkippedImageWarning, 2)
            continue
        sharp = np.repeat(sharp, 3, 2) if sharp.shape[2] == 1 else sharp[..., :3]
        if max_side and max(sharp.shape[:2]) > max_side:
            step = int(np.ceil(max(sharp.shape[:2]) / max_side))
            sharp = sharp[::step, ::step]
        for k in range(per_image):
            rng = np.random.default_rng((seed, k, *f.name.encode()))
            yield f"{f.stem}_{k}", blur_fn(sharp, rng, **blur_kwargs), sharp


def write_pairs(
    pairs: Iterator[tuple[str, np.ndarray, np.ndarray]], out_dir: str | os.PathLike, *, overwrite: bool = False
) -> int:
    out = Path(out_dir)
    count = 0
    for name, blur, sharp in pairs:
        if not overwrite and (out / "blur" / f"{name}.png").exists():
            continue
        write_image(out / "sharp" / f"{name}.png", sharp, overwrite=True)
        write_image(out / "blur" / f"{name}.png", blur, overwrite=True)
        count += 1
    return count
