"""Before/after sheets: the same 1:1 crop of each input, its restoration (and the sharp frame, for
pairs), one row per image, labelled with the file name and its scores; PNG/JPEG or a single HTML file."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rdafnet.utils.atomic import atomic_write

_LABEL_H, _GAP = 18, 6


@dataclass
class SheetRow:
    """One image of a sheet: its name, the label text, and the full images (same size) to crop."""

    name: str
    label: str
    images: Sequence[np.ndarray]
    titles: Sequence[str] = field(default_factory=lambda: ("input", "output", "sharp"))


def _gray(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float64)
    if img.dtype == np.uint16:
        x /= 257.0
    elif img.dtype != np.uint8:
        x *= 255.0
    return x.mean(axis=2) if x.ndim == 3 else x


def _box_sum(a: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Sums of ``a`` over ``size`` windows every ``stride`` pixels (an integral image)."""
    s = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys, xs = np.arange(0, a.shape[0] - size + 1, stride), np.arange(0, a.shape[1] - size + 1, stride)
    return s[ys[:, None] + size, xs + size] - s[ys[:, None], xs + size] - s[ys[:, None] + size, xs] + s[ys[:, None], xs]


def blurriest_window(image: np.ndarray, size: int, *, reference: np.ndarray | None = None) -> tuple[int, int]:
    """Top-left corner of the ``size`` crop to look at: with a ``reference`` (the sharp frame), where the
    input differs from it most; without one, where coarse structure is strong and fine detail weak
    relative to it (edges that are there but soft): the largest coarse^2 / fine gradient energy. The whole
    image when it is no larger than the crop."""
    h, w = image.shape[:2]
    size_h, size_w = min(size, h), min(size, w)
    if size_h == h and size_w == w:
        return 0, 0
    g = _gray(image)
    stride = max(size // 4, 1)
    k = min(size_h, size_w)
    if reference is not None:
        score = _box_sum((g - _gray(reference)) ** 2, k, stride)
    else:
        fine = np.zeros_like(g)
        fine[:, 1:] += np.diff(g, axis=1) ** 2
        fine[1:, :] += np.diff(g, axis=0) ** 2
        coarse_img = _box_mean(g, 5)
        coarse = np.zeros_like(g)
        coarse[:, 5:] += (coarse_img[:, 5:] - coarse_img[:, :-5]) ** 2
        coarse[5:, :] += (coarse_img[5:, :] - coarse_img[:-5, :]) ** 2
        c, f = _box_sum(coarse, k, stride), _box_sum(fine, k, stride)
        score = c * c / (25 * f + 1e-9 * k * k)  # strong structure, soft detail: edges that are blurred
    iy, ix = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(min(iy * stride, h - size_h)), int(min(ix * stride, w - size_w))


def _box_mean(g: np.ndarray, r: int) -> np.ndarray:
    """The mean over a (2r+1)^2 window around each pixel, borders repeated."""
    n = 2 * r + 1
    return _box_sum(np.pad(g, r, mode="edge"), n, 1) / (n * n)


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(np.rint(img.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3]


def crops(row: SheetRow, size: int, corner: tuple[int, int] | None) -> list[np.ndarray]:
    """The same crop of each of a row's images (uint8 RGB)."""
    y, x = corner if corner is not None else blurriest_window(row.images[0], size)
    return [_to_rgb8(im)[y : y + size, x : x + size] for im in row.images]


def write_sheet(
    path: str | os.PathLike,
    rows: Sequence[SheetRow],
    *,
    crop: int = 256,
    corners: Sequence[tuple[int, int] | None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a sheet of ``rows`` to ``path`` (``.png``, ``.jpg`` or ``.html``), atomically; ``corners``
    fixes each row's crop (else :func:`blurriest_window` of its first image)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".html"):
        raise ValueError(f"unsupported sheet format {path.suffix!r} for {path}; use .png, .jpg or .html")
    if not rows:
        raise ValueError("nothing to put on the sheet: no image was restored")
    cells = [crops(r, crop, (corners or [None] * len(rows))[i]) for i, r in enumerate(rows)]
    if suffix == ".html":
        return atomic_write(path, lambda tmp: Path(tmp).write_text(_html(rows, cells)), overwrite=overwrite)
    sheet = _raster(rows, cells, crop)
    return atomic_write(
        path,
        lambda tmp: sheet.save(
            tmp, format="PNG" if suffix == ".png" else "JPEG", **({} if suffix == ".png" else {"quality": 92})
        ),
        overwrite=overwrite,
    )


def _raster(rows: Sequence[SheetRow], cells: list[list[np.ndarray]], crop: int) -> Image.Image:
    ncol = max(len(c) for c in cells)
    width = ncol * crop + (ncol + 1) * _GAP
    heights = [_LABEL_H + max(im.shape[0] for im in c) + _GAP for c in cells]
    sheet = Image.new("RGB", (width, _LABEL_H + sum(heights) + _GAP), "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for j, title in enumerate(rows[0].titles[:ncol]):
        draw.text((_GAP + j * (crop + _GAP), 3), title, fill="black", font=font)
    y = _LABEL_H + _GAP
    for row, c, hgt in zip(rows, cells, heights, strict=True):
        draw.text((_GAP, y + 2), f"{row.name}  {row.label}"[:160], fill="black", font=font)
        for j, im in enumerate(c):
            sheet.paste(Image.fromarray(np.ascontiguousarray(im)), (_GAP + j * (crop + _GAP), y + _LABEL_H))
        y += hgt
    return sheet


def _html(rows: Sequence[SheetRow], cells: list[list[np.ndarray]]) -> str:
    """One before/after view (:mod:`rdafnet.evaluation.compare`) per image: the crops under a divider, the
    sharp frame a click away."""
    from rdafnet.evaluation.compare import page, view_html

    body = "".join(
        f"<h3>{html.escape(r.name)} <small>{html.escape(r.label)}</small></h3>"
        + view_html(c, [f"{t}: {r.name}" if i == 0 else t for i, t in enumerate(r.titles[: len(c)])])
        for r, c in zip(rows, cells, strict=True)
    )
    return page(body, "rdafnet before/after")
