"""spandrel support: after ``rdafnet.weights.spandrel.install()``, ``spandrel.ModelLoader`` (the loader behind
chaiNNer and ComfyUI) detects and loads RDAFNet weights, the authors' ``GoPro.pth`` or this library's
``model.safetensors``, as an image-restoration descriptor (``pip install "rdafnet[spandrel]"``)."""

from __future__ import annotations

from typing import Any

from rdafnet.weights.convert import from_state_dict, is_official

ARCH_ID = "RDAFNet"


def detect(state_dict: dict[str, Any]) -> bool:
    """True for an RDAFNet state dict of either layout (prefixes already stripped by spandrel)."""
    return (
        is_official(state_dict)
        or "body.head.weight" in state_dict
        or ("stages.0.head.weight" in state_dict and "sams.0.feat.weight" in state_dict)
    )


def _architecture() -> Any:
    from spandrel import Architecture, ImageModelDescriptor, ModelTiling, SizeRequirements

    class RDAFNetArch(Architecture):
        def __init__(self) -> None:
            super().__init__(id=ARCH_ID, name="RDAFNet", detect=detect)

        def load(self, state_dict: dict[str, Any]) -> ImageModelDescriptor:
            model = from_state_dict(state_dict, source="spandrel state dict").eval()
            cfg = model.config
            blocks = cfg["num_blocks"] if isinstance(cfg["num_blocks"], int) else "+".join(map(str, cfg["num_blocks"]))
            return ImageModelDescriptor(  # spandrel loads the state dict it is given: ours
                model,
                model.state_dict(),
                architecture=self,
                purpose="Restoration",
                tags=[model.variant or cfg["architecture"], f"{cfg['width']}nf", f"{blocks}nb"],
                # inputs in [0, 1]; fp16 keeps the instance-norm statistics in range only through
                # rdafnet.optimize(model, precision="fp16"), so spandrel's plain .half() is not offered
                supports_half=False,
                supports_bfloat16="bf16" in model.precisions,
                scale=1,
                input_channels=3,
                output_channels=3,
                size_requirements=SizeRequirements(minimum=model.min_size, multiple_of=model.size_multiple),
                # instance norm uses whole-image statistics: tiles change the result
                tiling=ModelTiling.DISCOURAGED,
            )

    return RDAFNetArch()


def install(registry: Any = None) -> None:
    """Register RDAFNet with spandrel's main registry (or ``registry``); calling it again is harmless."""
    try:
        import spandrel
    except ImportError as exc:
        raise ImportError(
            f'spandrel is not importable ({exc}); install it with pip install "rdafnet[spandrel]"'
        ) from exc
    from spandrel import ArchSupport

    reg = spandrel.MAIN_REGISTRY if registry is None else registry
    reg.add(ArchSupport.from_architecture(_architecture()), ignore_duplicates=True)
