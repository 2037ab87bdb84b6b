"""Numerical kernels: normalisation variants and the fused inference path."""
from .norm import instance_norm, set_norm_window

__all__ = ["instance_norm", "set_norm_window"]
