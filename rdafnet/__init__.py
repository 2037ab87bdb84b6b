"""rdafnet: dynamic-scene motion deblurring with continuous cross-layer attention transmission."""

import warnings

with warnings.catch_warnings():
    # huggingface_hub imports tqdm.auto, which warns ("IProgress not found") in a notebook without ipywidgets;
    # imported here once, quietly: this library's own bars are plain text there (rdafnet.utils.progress)
    warnings.filterwarnings("ignore", message="IProgress not found")
    import tqdm.auto  # noqa: F401

from rdafnet._version import __version__
from rdafnet.evaluation.compare import compare
from rdafnet.inference import deblur, deblur_video, iter_deblur
from rdafnet.io.image import SAMPLE_IMAGE
from rdafnet.layers import (
    RDAFB,
    AttentionFusion,
    CrossStageFusion,
    DepthwiseSeparableConv,
    PixelAttention,
    SupervisedAttention,
)
from rdafnet.models import (
    EncoderDecoder,
    Profile,
    RDAFNet,
    RDAFNetBase,
    RDAFNetMultiStage,
    build,
    describe_model,
    list_models,
    profile,
)
from rdafnet.ops import export_onnx, optimize, set_norm_window
from rdafnet.weights import convert_official, download, from_pretrained, list_pretrained, load_official

__all__ = [
    "SAMPLE_IMAGE",
    "compare",
    "__version__",
    "build",
    "list_models",
    "describe_model",
    "profile",
    "Profile",
    "RDAFNetBase",
    "RDAFNet",
    "RDAFNetMultiStage",
    "EncoderDecoder",
    "RDAFB",
    "PixelAttention",
    "AttentionFusion",
    "DepthwiseSeparableConv",
    "SupervisedAttention",
    "CrossStageFusion",
    "convert_official",
    "load_official",
    "from_pretrained",
    "list_pretrained",
    "download",
    "deblur",
    "iter_deblur",
    "deblur_video",
    "set_norm_window",
    "optimize",
    "export_onnx",
]
