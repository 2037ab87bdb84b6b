"""Numerical kernels: normalisation variants and the fused inference path."""
from .fused import FusedRDAFB, optimize
from .norm import instance_norm, set_norm_window
from .precision import bf16_native

__all__ = ["FusedRDAFB", "bf16_native", "instance_norm", "optimize", "set_norm_window"]
