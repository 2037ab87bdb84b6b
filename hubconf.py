"""torch.hub entry points: ``torch.hub.load("path/to/this/clone", "rdafnet", source="local", pretrained=True)``."""

dependencies = ["torch", "huggingface_hub", "safetensors", "einops", "numpy", "PIL"]


def rdafnet(pretrained: bool = True, variant: str | None = None, name: str | None = None, **overrides):
    """The bundled pretrained deblurrer (``pretrained=True``), a registered pretrained ``name``,
    or a randomly initialised ``variant`` (``pretrained=False``) with hyperparameter overrides."""
    import rdafnet as _r

    if pretrained:
        return _r.from_pretrained(name)
    return _r.build(variant or "single-stage", **overrides)
