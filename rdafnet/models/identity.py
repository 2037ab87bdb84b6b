"""What a loaded pretrained model is (name, source, licence, metrics), kept through saving and loading
again; fine-tuned weights name it as their base model instead."""

from __future__ import annotations

from typing import Any

from torch import nn

from rdafnet.layers.fused import unfused_state_dict
from rdafnet.utils.checkpoint import state_digest

#: Entries of ``model.pretrained`` that describe this machine's copy, not the model (not saved).
_LOCAL_KEYS = {"loaded_from", "state_sha256", "cache_path", "cached", "path"}


def weights_digest(model: nn.Module) -> str:
    """sha256 of a network's weights in the layout of the original blocks (the same before and after
    ``rdafnet.optimize`` in fp32), in key order."""
    return state_digest(dict(sorted(unfused_state_dict(model).items())))


def attach_identity(model: Any, identity: dict[str, Any], card_text: str | None = None) -> None:
    """Record what a loaded model is (``model.pretrained``, with the digest of its weights as loaded, so that
    ``save_pretrained`` can tell them from fine-tuned ones) and the card it came with."""
    model.pretrained = {**identity, "state_sha256": weights_digest(model)}
    model.card_text = card_text


def saved_identity(model: Any) -> dict[str, Any] | None:
    """What ``save_pretrained`` records of where ``model`` comes from: its ``pretrained`` entry while the
    weights are still the loaded ones, ``{"base_model": name}`` once they changed (fine-tuning), ``None``
    for a network that was not loaded by name."""
    info = model.pretrained or {}
    digest = info.get("state_sha256")
    if digest is None:
        return None
    if digest == weights_digest(model):
        return {k: v for k, v in info.items() if k not in _LOCAL_KEYS}
    base = info.get("base_model") if "name" not in info else info.get("repo_id") or info["name"]
    return {"base_model": base} if base else None
