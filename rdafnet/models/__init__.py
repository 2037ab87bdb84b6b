"""The networks: the inference contract, single-stage and multi-stage RDAFNet, the variant registry,
``build``, their cost (``profile``) and their model cards."""

from rdafnet.models.networks import (
    ARCHITECTURES,
    VARIANTS,
    EncoderDecoder,
    RDAFNet,
    RDAFNetBase,
    RDAFNetMultiStage,
    Variant,
    build,
    describe_model,
    from_config,
    list_models,
)
from rdafnet.models.profile import Profile, profile

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
