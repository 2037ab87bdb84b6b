"""Before/after figures for the docs (small crops; sources credited in the docs).

    python benchmarks/figures.py [--model NAME_OR_PATH] [--data ../shared/data] [--out docs/images]

Writes ``before_after.png`` (GoPro test frame: blurry | restored | sharp) and ``lai_real.png``
(real blurry photographs of Lai et al. 2016, no ground truth: blurry | restored), each crop
shown at 1:1 so that the pixels are the model's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import rdafnet
from rdafnet.io.image import read_image, write_image

GOPRO_CROP = (300, 560, 256, 384)  # y, x, h, w in GOPR0396_11_00-000001
LAI = ["boat1.jpg", "book1.jpg", "bird.jpg"]  # centre crops
LAI_CROP = 224


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    im = Image.fromarray(tile)
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 0, 7 * len(text) + 6, 14], fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(im)


def _row(tiles: list[np.ndarray], gap: int = 4) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    parts = []
    for t in tiles:
        parts += [
            np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255),
            np.full((h, gap, 3), 255, np.uint8),
        ]
    return np.concatenate(parts[:-1], axis=1)


def _stack(rows: list[np.ndarray], gap: int = 4) -> np.ndarray:
    w = max(r.shape[1] for r in rows)
    parts = []
    for r in rows:
        parts += [
            np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0)), constant_values=255),
            np.full((gap, w, 3), 255, np.uint8),
        ]
    return np.concatenate(parts[:-1], axis=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="registered name or path (default: the bundled model)")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    a = p.parse_args()
    model = rdafnet.optimize(rdafnet.from_pretrained(a.model))

    y, x, h, w = GOPRO_CROP
    name = "GOPR0396_11_00-000001.png"
    blur = read_image(a.data / "gopro_dev" / "blur" / name)
    sharp = read_image(a.data / "gopro_dev" / "sharp" / name)
    out = rdafnet.deblur(blur, model)  # the whole frame, then the crop
    crop = lambda im: im[y : y + h, x : x + w, :3]  # noqa: E731
    fig = _row([_label(crop(blur), "blurry"), _label(crop(out), "restored"), _label(crop(sharp), "sharp")])
    write_image(a.out / "before_after.png", fig, overwrite=True)

    rows = []
    for fname in LAI:
        img = read_image(a.data / "lai_real_blurry" / fname)[..., :3]
        res = rdafnet.deblur(img, model)
        cy, cx = (img.shape[0] - LAI_CROP) // 2, (img.shape[1] - LAI_CROP) // 2
        crop = np.s_[cy : cy + LAI_CROP, cx : cx + LAI_CROP]
        rows.append(_row([_label(img[crop], f"{fname} blurry"), _label(res[crop], "restored")]))
    write_image(a.out / "lai_real.png", _stack(rows), overwrite=True)
    print(f"wrote {a.out / 'before_after.png'} and {a.out / 'lai_real.png'}")


if __name__ == "__main__":
    main()
