"""``rdafnet export-onnx``: write a model as an ONNX file."""

from __future__ import annotations

import argparse

from rdafnet.cli._args import bounded


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("export-onnx", help="write a model as an ONNX file (dynamic batch and size)")
    s.add_argument("model", nargs="?", default=None, help="name, Hub repo or path (default: the bundled model)")
    s.add_argument("out", help="the .onnx file to write")
    s.add_argument("--opset", type=bounded(int, 18, 99), default=18, help="ONNX opset, 18 (default) or newer")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    from rdafnet.ops.export import export_onnx
    from rdafnet.weights.hub import from_pretrained

    if not a.out.lower().endswith(".onnx"):
        raise ValueError(f"{a.out}: name the ONNX file with the .onnx suffix (runtimes and viewers go by it)")
    model = from_pretrained(a.model)
    path = export_onnx(model, a.out, opset=a.opset, overwrite=a.overwrite)
    print(
        f"exported {a.model or (model.pretrained or {}).get('name')} -> {path} "
        "(input 'blurry', output 'sharp': float32 (B, 3, H, W) in [0, 1], any B, H, W)"
    )
    return 0
