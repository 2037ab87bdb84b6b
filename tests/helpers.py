"""Helpers shared by the tests."""

from __future__ import annotations

import json
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
#: The authors' key list and the parity fixtures (``../shared/reference`` copied into the repository,
#: so that every clone proves parity).
REFERENCE = Path(__file__).resolve().parent / "data" / "reference"


def recipe_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """The reference README's deterministic recipe weights, in the authors' key layout."""
    keys = json.loads((REFERENCE / "official_keys.json").read_text())[variant]
    out = {}
    for k, shape in keys.items():
        n = int(np.prod(shape))
        u = np.random.Generator(np.random.PCG64(zlib.crc32(k.encode()))).random(n)
        bound = 1 / np.sqrt(n / shape[0]) if len(shape) >= 2 else 0.1
        out[k] = torch.from_numpy(((2 * u - 1) * bound).astype(np.float32).reshape(shape))
    return out


def make_clip(
    path: Path,
    *,
    w: int = 96,
    h: int = 64,
    n: int = 20,
    fps: int = 24,
    audio: bool = True,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
) -> Path:
    """A short H.264 clip panning over the bundled sample frame (PyAV), with a 440 Hz AAC track; ``pts``
    (in units of 1/fps) gives a variable frame rate."""
    import av

    import rdafnet
    from rdafnet.io.image import read_image

    base = read_image(rdafnet.SAMPLE_IMAGE)[300 : 300 + h + n, 500 : 500 + w + 2 * n]
    deep = "10" in pix_fmt
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": "10"})
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        if pts is not None:
            v.time_base = v.codec_context.time_base = Fraction(1, fps)
        if rotation:
            v.set_display_rotation(rotation)
        a = out.add_stream("aac", rate=16000, layout="mono") if audio else None  # all streams before muxing
        for i in range(n):
            img = np.ascontiguousarray(base[i : i + h, 2 * i : 2 * i + w])
            if deep:
                img = img.astype(np.uint16) * 257
            f = av.VideoFrame.from_ndarray(img, format="rgb48le" if deep else "rgb24")
            f.pts = i if pts is None else pts[i]
            out.mux(v.encode(f))
        out.mux(v.encode())
        if a is not None:
            t = np.arange(int(16000 * n / fps)) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for k in range(0, samples.shape[1], 1024):
                fr = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, k : k + 1024]), format="flt", layout="mono"
                )
                fr.sample_rate, fr.pts = 16000, k
                out.mux(a.encode(fr))
            out.mux(a.encode())
    return path


def decode_frames(path: Path) -> tuple[list[np.ndarray], list[float], dict]:
    """Every frame of a video's first video stream as RGB (rgb48 for deep ones), their times in
    seconds, and the stream's rate, size and duration (seconds)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        deep = any(comp.bits > 8 for comp in av.VideoFormat(s.codec_context.pix_fmt).components)
        frames, pts = [], []
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="rgb48le" if deep else "rgb24", src_color_range=f.color_range))
            pts.append(float(f.pts * f.time_base))
        return (
            frames,
            pts,
            {
                "rate": s.average_rate,
                "size": (s.codec_context.width, s.codec_context.height),
                "duration": float(s.duration * s.time_base) if s.duration else None,
            },
        )
