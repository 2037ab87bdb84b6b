"""Numerical kernels: normalisation variants and the fused inference path."""
from .fused import FusedRDAFB, optimize
from .norm import instance_norm, set_norm_window

__all__ = ["FusedRDAFB", "instance_norm", "optimize", "set_norm_window"]
