"""Inference speed: ``optimize()`` and when reduced precision pays off. The fused layers and the
norm helpers live with the layers (:mod:`rdafnet.layers`); they are re-exported here."""
from ..layers import FusedRDAFB, instance_norm, set_norm_window
from .allocator import keep_freed_memory
from .optimize import CONVS, choose_precision, fastest, optimize
from ..precision import PRECISIONS, bf16_native, native_precision

__all__ = ["CONVS", "PRECISIONS", "FusedRDAFB", "bf16_native", "choose_precision", "fastest", "instance_norm",
           "keep_freed_memory", "native_precision", "optimize", "set_norm_window"]
