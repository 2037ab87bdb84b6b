"""Inference speed: ``optimize()``, the ``"auto"`` precision choice, the allocator setting, ONNX export.
The fused layers and the norm helpers live with the layers (:mod:`rdafnet.layers`); they are re-exported
here."""

from rdafnet.layers import FusedRDAFB, instance_norm, set_norm_window
from rdafnet.ops.allocator import keep_freed_memory
from rdafnet.ops.export import export_onnx
from rdafnet.ops.optimize import CONVS, choose_precision, fastest, optimize
from rdafnet.utils.device import PRECISIONS, bf16_native, native_precision

__all__ = [
    "CONVS",
    "PRECISIONS",
    "FusedRDAFB",
    "bf16_native",
    "choose_precision",
    "export_onnx",
    "fastest",
    "instance_norm",
    "keep_freed_memory",
    "native_precision",
    "optimize",
    "set_norm_window",
]
