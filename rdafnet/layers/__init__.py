"""The paper's building blocks, each usable alone with any channel count."""
from .attention import AttentionFusion, DepthwiseSeparableConv, PixelAttention
from .rdafb import ATTENTION_MODES, RDAFB
from .stage import CrossStageFusion, SupervisedAttention

__all__ = ["ATTENTION_MODES", "AttentionFusion", "CrossStageFusion", "DepthwiseSeparableConv",
           "PixelAttention", "RDAFB", "SupervisedAttention"]
