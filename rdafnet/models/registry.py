"""The variant registry: every name ``build()`` accepts, with its class, hyperparameters and description."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from rdafnet.models.networks import RDAFNet, RDAFNetBase, RDAFNetMultiStage, invalid_hyperparameters


@dataclass(frozen=True)
class Variant:
    """A registered network: its class, the hyperparameters that differ from the class defaults,
    and a one-line description."""

    cls: type[RDAFNetBase]
    hparams: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def hyperparameters(self) -> dict[str, Any]:
        """All hyperparameters of this variant (class defaults and its own)."""
        defaults = {k: p.default for k, p in inspect.signature(self.cls).parameters.items() if k != "variant"}
        return {**defaults, **self.hparams}


#: The variant registry: every name that :func:`build` accepts (also used by ``from_pretrained``,
#: the authors' checkpoint converter and :func:`list_models`).
VARIANTS: dict[str, Variant] = {
    "single-stage": Variant(RDAFNet, {}, "paper's single-stage net, 16 RDAFBs (14.20 M params)"),
    "multi-stage": Variant(RDAFNetMultiStage, {}, "paper's multi-stage net, 10+10+12 RDAFBs (28.97 M params)"),
    "single-stage-n8": Variant(RDAFNet, {"num_blocks": 8}, "ablation: 8 blocks (Table 2)"),
    "single-stage-n12": Variant(RDAFNet, {"num_blocks": 12}, "ablation: 12 blocks (Table 2)"),
    "single-stage-n20": Variant(RDAFNet, {"num_blocks": 20}, "ablation: 20 blocks (Table 2)"),
    "single-stage-am-only": Variant(
        RDAFNet, {"attention": "layer"}, "ablation: no attention fusion, each layer gated by its own map (10.99 M)"
    ),
    "single-stage-no-attention": Variant(RDAFNet, {"attention": "none"}, "ablation: no attention (9.93 M)"),
    "single-stage-no-residual": Variant(RDAFNet, {"residual": False}, "ablation: no local residual learning (Table 5)"),
    "small": Variant(RDAFNet, {"width": 24, "num_blocks": 6}, "CPU-sized: width 24, 6 blocks"),
    "tiny": Variant(RDAFNet, {"width": 16, "num_blocks": 4}, "CPU-sized: width 16, 4 blocks"),
}


def list_models() -> list[str]:
    """Names accepted by :func:`build`."""
    return list(VARIANTS)


def describe_model(variant: str) -> str:
    """One-line description of a registered variant."""
    return _lookup(variant).description


def _lookup(variant: str) -> Variant:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known variants: {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def build(variant: str = "single-stage", **overrides: Any) -> RDAFNetBase:
    """Build a registered variant (randomly initialised); ``overrides`` replace its hyperparameters.

    >>> model = build("single-stage", num_blocks=8)
    """
    entry = _lookup(variant)
    allowed = set(inspect.signature(entry.cls).parameters) - {"variant"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {sorted(unknown)} for {variant!r}; allowed: {sorted(allowed)}")
    wrong = invalid_hyperparameters(entry.cls, overrides)
    if wrong:
        raise ValueError(f"build({variant!r}) got invalid hyperparameters: {'; '.join(wrong)}")
    return entry.cls(**{**entry.hparams, **overrides}, variant=variant)
