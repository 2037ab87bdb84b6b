"""``rdafnet export-onnx``: write a model as an ONNX file."""

from __future__ import annotations

import argparse
import signal

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
    from rdafnet.utils.signals import Interrupted, stop_signals
    from rdafnet.weights.hub import from_pretrained

    if not a.out.lower().endswith(".onnx"):
        raise ValueError(f"{a.out}: name the ONNX file with the .onnx suffix (runtimes and viewers go by it)")
    model = from_pretrained(a.model)
    # torch's exporter imports and traces as it goes: a stop signal is taken after it, not inside it (an
    # exception raised in the middle of an import leaves torch half-initialised)
    with stop_signals(defer=True) as signalled:
        path = export_onnx(model, a.out, opset=a.opset, overwrite=a.overwrite)
    signum = signalled()
    if signum is not None:
        path.unlink(missing_ok=True)
        name = signal.Signals(signum).name
        raise Interrupted(signum, f"stopped by {name} while exporting; nothing was written: run the same command again")
    print(
        f"exported {a.model or (model.pretrained or {}).get('name')} -> {path} "
        "(input 'blurry', output 'sharp': float32 (B, 3, H, W) in [0, 1], any B, H, W)"
    )
    return 0
