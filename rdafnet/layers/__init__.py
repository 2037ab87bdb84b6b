"""The paper's building blocks, each usable alone with any channel count."""
from .attention import AttentionFusion, DepthwiseSeparableConv, PixelAttention
from .fused import Fusable, FusedRDAFB
from .norm import NormWindow, instance_norm, set_norm_window
from .rdafb import ATTENTION_MODES, RDAFB
from .stage import CrossStageFusion, SupervisedAttention

__all__ = ["ATTENTION_MODES", "AttentionFusion", "CrossStageFusion", "DepthwiseSeparableConv", "Fusable",
           "FusedRDAFB", "NormWindow", "PixelAttention", "RDAFB", "SupervisedAttention", "instance_norm",
           "set_norm_window"]
