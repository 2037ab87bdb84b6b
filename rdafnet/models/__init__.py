"""The networks: the inference contract, single-stage and multi-stage RDAFNet, the variant registry,
``build``, their cost (``profile``) and their model cards."""

from rdafnet.models.networks import ARCHITECTURES, EncoderDecoder, RDAFNet, RDAFNetBase, RDAFNetMultiStage, from_config
from rdafnet.models.profile import Profile, profile
from rdafnet.models.registry import VARIANTS, Variant, build, describe_model, list_models

__all__ = [
    "ARCHITECTURES",
    "VARIANTS",
    "EncoderDecoder",
    "Profile",
    "RDAFNet",
    "RDAFNetBase",
    "RDAFNetMultiStage",
    "Variant",
    "build",
    "describe_model",
    "from_config",
    "list_models",
    "profile",
]
