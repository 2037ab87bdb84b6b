"""The paper's building blocks, each usable alone with any channel count."""

from rdafnet.layers.attention import AttentionFusion, DepthwiseSeparableConv, PixelAttention
from rdafnet.layers.fused import Fusable, FusedRDAFB
from rdafnet.layers.norm import NormWindow, instance_norm, set_norm_window
from rdafnet.layers.rdafb import ATTENTION_MODES, RDAFB
from rdafnet.layers.stage import CrossStageFusion, SupervisedAttention

__all__ = [
    "ATTENTION_MODES",
    "AttentionFusion",
    "CrossStageFusion",
    "DepthwiseSeparableConv",
    "Fusable",
    "FusedRDAFB",
    "NormWindow",
    "PixelAttention",
    "RDAFB",
    "SupervisedAttention",
    "instance_norm",
    "set_norm_window",
]
