"""rdafnet: dynamic-scene motion deblurring with continuous cross-layer attention transmission."""
from pathlib import Path as _Path

from ._version import __version__
from .convert import convert_official, load_official
from .authors import download
from .export import export_onnx
from .hub import from_pretrained, list_pretrained
from .inference import deblur, iter_deblur
from .ops import optimize, set_norm_window
from .layers import (RDAFB, AttentionFusion, CrossStageFusion, DepthwiseSeparableConv, PixelAttention,
                     SupervisedAttention)
from .models import EncoderDecoder, RDAFNet, RDAFNetBase, RDAFNetMultiStage, build, describe_model, list_models
from .profile import Profile, profile
from .video import deblur_video

#: The bundled sample: a blurry 1280x720 frame of the GoPro test set (Nah et al. 2017, CC BY 4.0).
SAMPLE_IMAGE = _Path(__file__).parent / "samples" / "gopro_blurry.png"

__all__ = [
    "SAMPLE_IMAGE",
    "__version__", "build", "list_models", "describe_model", "profile", "Profile",
    "RDAFNetBase", "RDAFNet", "RDAFNetMultiStage", "EncoderDecoder",
    "RDAFB", "PixelAttention", "AttentionFusion", "DepthwiseSeparableConv", "SupervisedAttention",
    "CrossStageFusion", "convert_official", "load_official", "from_pretrained", "list_pretrained", "download",
    "deblur", "iter_deblur", "deblur_video", "set_norm_window", "optimize", "export_onnx",
]
