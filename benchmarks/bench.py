"""Benchmarks (not tests): speed of the inference paths, memory of tiled inference, and the
agreement of tiled and full-frame output on real frames.

    python benchmarks/bench.py speed  [--variants single-stage tiny] [--sizes 256x256 720x1280]
    python benchmarks/bench.py memory [--sizes 720x1280 1080x1920 2160x3840] [--tile 512]
    python benchmarks/bench.py tiling [--data ../shared/data]
    python benchmarks/bench.py precision [--models bundled PATH ...]
    python benchmarks/bench.py video  [--frames 24] [--size 720x1280]
    python benchmarks/bench.py profile [--variant single-stage] [--size 720x1280] [--paths ...]
    python benchmarks/bench.py auto [--isa avx2] [--variant single-stage]  # the CLI's default path
    python benchmarks/bench.py winograd-own [--isa avx2]  # Winograd in PyTorch ops against NNPACK, per layer

Each measurement runs in a fresh subprocess so that its peak resident memory is its own.
Times are medians of ``--repeats`` runs after a warm-up on a small input.
"""

from __future__ import annotations

import argparse

from _bench_common import DATA, ISA_HELP, JSON_HELP
from bench_auto import auto
from bench_layers import convs, int8_layers
from bench_memory import memory, precision, tiling, video
from bench_profile import _profile_case, profile_paths
from bench_speed import _case, speed
from bench_winograd import winograd_own


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument(
        "--variants",
        nargs="+",
        default=["single-stage", "multi-stage", "bundled"],
        help="network variants with random weights, or 'bundled' (the bundled default model, trained)",
    )
    s.add_argument("--sizes", nargs="+", default=["256x256", "720x1280"])
    s.add_argument(
        "--paths",
        nargs="+",
        default=[
            "reference",
            "optimized",
            "reference-tiled",
            "optimized-tiled",
            "compiled-tiled",
            "optimized-bf16",
            "optimized-bf16-tiled",
        ],
        help="reference | optimized | compiled | onnx, with optional -bf16, -compiled (optimized "
        "only), -tiled (not onnx) and -keep (rdafnet.ops.keep_freed_memory(), as the CLI) suffixes",
    )
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--big-repeats", type=int, default=1, help="repeats for the paper-sized nets at full frames")
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=32)
    s.add_argument("--batch", type=int, default=1, help="tiles per forward pass (1 keeps CPU tensors cache-sized)")
    s.add_argument("--isa", choices=("native", "avx2"), default="native", help=ISA_HELP)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=speed)
    s = sub.add_parser("convs")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=convs)
    s = sub.add_parser("winograd-own", help="Winograd in PyTorch ops against NNPACK and oneDNN, layer by layer")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--tiles", nargs="+", type=int, default=[4, 6], help="output tile sides m of F(m x m, r x r)")
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--isa", choices=("native", "avx2"), default="native", help=ISA_HELP)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=winograd_own)
    s = sub.add_parser("int8-layers")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=int8_layers)
    s = sub.add_parser("memory")
    s.add_argument("--sizes", nargs="+", default=["720x1280", "1080x1920", "2160x3840"])
    s.add_argument("--tile", type=int, default=512)
    s.add_argument("--overlap", type=int, default=64)
    s.add_argument("--repeats", type=int, default=1)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=memory)
    s = sub.add_parser("tiling")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=64)
    s.add_argument("--window", type=int, default=256)
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=tiling)
    s = sub.add_parser("precision")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--models", nargs="+", default=["bundled"], help="'bundled', registered names or paths")
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=precision)
    s = sub.add_parser("video")
    s.add_argument("--frames", type=int, default=24)
    s.add_argument("--size", default="720x1280")
    s.add_argument("--precision", default="auto", help="as `rdafnet deblur --precision` (default auto)")
    s.set_defaults(func=video)
    s = sub.add_parser("profile")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--paths", nargs="+", default=["reference", "optimized", "optimized-bf16"])
    s.add_argument("--keep-memory", action="store_true", help="rdafnet.ops.keep_freed_memory() first (as the CLI)")
    s.set_defaults(func=profile_paths)
    s = sub.add_parser("auto", help="the command line's default path on a 720p frame against each exact path")
    s.add_argument("--variant", default="single-stage")
    s.add_argument("--size", default="720x1280")
    s.add_argument("--isa", choices=("native", "avx2"), default="native", help=ISA_HELP)
    s.add_argument("--rounds", type=int, default=3, help="each row once per round; the median is reported")
    s.add_argument("--json", default=None, help=JSON_HELP)
    s.set_defaults(func=auto)
    for name, func in (("_profile", _profile_case), ("_case", _case)):  # one measurement, in a fresh process
        s = sub.add_parser(name)
        s.add_argument("variant")
        s.add_argument("h", type=int)
        s.add_argument("w", type=int)
        s.add_argument("path")
        s.set_defaults(func=func)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--tile", type=int, default=256)
    s.add_argument("--overlap", type=int, default=32)
    s.add_argument("--batch", type=int, default=4)
    s.add_argument("--pretrained", action="store_true")
    s.add_argument("--save")
    s.add_argument("--compare")
    s.add_argument("--isa", choices=("native", "avx2"), default="native")
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
