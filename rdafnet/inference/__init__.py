"""Inference: ``deblur`` for any image type, tiled restoration within a memory budget, and video."""

from rdafnet.inference.deblur import deblur, iter_deblur
from rdafnet.inference.tiling import restore_tensor
from rdafnet.inference.video import deblur_video

__all__ = ["deblur", "deblur_video", "iter_deblur", "restore_tensor"]
