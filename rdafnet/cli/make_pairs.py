"""``rdafnet make-pairs``: write blurry/sharp training pairs from video frames or sharp photos."""

from __future__ import annotations

import argparse

from rdafnet.cli._args import EXIT_PARTIAL, bounded, one_line_warnings
from rdafnet.data.synth import MAX_SHAKE


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("make-pairs", help="write blurry/sharp training pairs from video frames or sharp photos")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of consecutive high-frame-rate frames (GoPro-style averaging)")
    src.add_argument("--sharp", help="folder of sharp photographs (synthetic camera shake)")
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--n-min", type=bounded(int, 1, 64), default=7)
    s.add_argument("--n-max", type=bounded(int, 1, 64), default=13)
    s.add_argument("--per-image", type=bounded(int, 1), default=1)
    s.add_argument("--max-side", type=bounded(int, 16), default=None)
    s.add_argument(
        "--max-length",
        type=bounded(float, 3, MAX_SHAKE, " pixels"),
        help="--sharp: longest shake in pixels (default 25)",
    )
    s.add_argument(
        "--noise-p", type=bounded(float, 0, 1), help="--sharp: share of pairs with sensor noise (default 0.7)"
    )
    s.add_argument("--jpeg-p", type=bounded(float, 0, 1), help="--sharp: share of pairs JPEG-compressed (default 0.3)")
    s.add_argument(
        "--motion",
        choices=["shake", "camera"],
        default="shake",
        help="--sharp: a camera-shake kernel (default) or N frames of simulated camera "
        "motion averaged like GoPro (--n-min/--n-max frames)",
    )
    s.add_argument(
        "--max-speed",
        type=bounded(float, 0.01, 100, " pixels per frame"),
        help="--motion camera: fastest motion in pixels per frame (default 3)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    from rdafnet.data.make import pairs_from_frames, pairs_from_sharp, write_pairs
    from rdafnet.utils.signals import Interrupted, stop_signals

    if a.n_min > a.n_max:
        raise ValueError(f"--n-min ({a.n_min}) is larger than --n-max ({a.n_max})")
    if a.frames:
        it = pairs_from_frames(a.frames, n_min=a.n_min, n_max=a.n_max, seed=a.seed)
    else:
        own = {"shake": ("max_length", "noise_p", "jpeg_p"), "camera": ("max_speed",)}
        for motion, names in own.items():
            for k in names:
                if motion != a.motion and getattr(a, k) is not None:
                    raise ValueError(f"--{k.replace('_', '-')} applies to --motion {motion}, not {a.motion}")
        blur = {k: v for k in own[a.motion] if (v := getattr(a, k)) is not None}
        if a.motion == "camera":
            blur.update(n_min=a.n_min, n_max=a.n_max)
        it = pairs_from_sharp(a.sharp, per_image=a.per_image, seed=a.seed, max_side=a.max_side, motion=a.motion, **blur)
    with one_line_warnings("warning") as skipped:
        try:
            with stop_signals():  # a pair is written sharp first, blur last: a stopped run leaves no half pair
                n = write_pairs(it, a.out, overwrite=a.overwrite)
        except Interrupted as stop:
            raise Interrupted(
                stop.signum, f"stopped by {stop.name}; run the same command to go on (finished pairs are kept)"
            ) from None
    print(f"wrote {n} pairs to {a.out}" + (f" ({len(skipped)} input(s) skipped: unreadable)" if skipped else ""))
    return EXIT_PARTIAL if skipped else 0
