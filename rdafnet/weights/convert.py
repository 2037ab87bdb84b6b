"""The authors' released checkpoints (``GoPro.pth``): their key layout mapped to this library's, and
the network a state dict of either layout describes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rdafnet.models.networks import ARCHITECTURES, RDAFNet, RDAFNetBase
from rdafnet.models.registry import VARIANTS, build
from rdafnet.utils.checkpoint import load_strict, read_checkpoint, strip_prefixes

# RDAFB internals: authors' sub-key -> ours (i is 1-based in their names)
_BLOCK_RULES = [
    (re.compile(r"attn_(\d+)\.attn\.0\.(weight|bias)$"), lambda m: f"attns.{int(m[1]) - 1}.proj.{m[2]}"),
    (re.compile(r"conv_(\d+)\.0\.(weight|bias)$"), lambda m: f"convs.{int(m[1]) - 1}.{m[2]}"),
    (re.compile(r"c(\d+)\.(weight|bias)$"), lambda m: f"fusions.{int(m[1]) - 1}.reduce.{m[2]}"),
    (re.compile(r"conv_c(\d+)\.conv\.0\.weight$"), lambda m: f"fusions.{int(m[1]) - 1}.dsc.depthwise.weight"),
    (re.compile(r"conv_c(\d+)\.conv\.1\.weight$"), lambda m: f"fusions.{int(m[1]) - 1}.dsc.pointwise.weight"),
]
_STAGE_PARTS = {"enc_1": "head", "enc_2": "down", "dec_1": "up", "dec_2": "fuse"}
_SAM_PARTS = {"conv1": "feat", "conv2": "to_image", "conv3": "attn"}


def is_official(state_dict: Mapping[str, Any]) -> bool:
    """True for a state dict in the authors' layout (prefixes already stripped)."""
    return "first.0.weight" in state_dict or "stage_1_enc_1.0.weight" in state_dict


def _map_block(rest: str) -> str:
    for pattern, repl in _BLOCK_RULES:
        m = pattern.match(rest)
        if m:
            return repl(m)
    raise KeyError(rest)


def _infer_block_kwargs(sd: Mapping[str, torch.Tensor], block_prefix: str) -> dict[str, Any]:
    keys = [k[len(block_prefix) :] for k in sd if k.startswith(block_prefix)]
    num_convs = len({k for k in keys if re.match(r"conv_\d+\.0\.weight$", k)})
    has_attn = any(k.startswith("attn_") for k in keys)
    has_fusion = any(re.match(r"c\d+\.weight$", k) for k in keys)
    attention = "fusion" if has_fusion else ("layer" if has_attn else "none")
    return {"num_convs": num_convs, "attention": attention}


def _indices(sd: Mapping[str, Any], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m[1]) for k in sd if (m := rx.match(k))})


def convert_official(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """Map an authors' state dict to ``(variant, hyperparameters, our_state_dict)``.

    The variant and its hyperparameters (width, blocks, convolutions per block, attention mode)
    are inferred from the keys. Raises ``ValueError`` for a state dict of neither layout.
    """
    sd = strip_prefixes(state_dict)
    convert = _convert_single if "first.0.weight" in sd else _convert_multi if "stage_1_enc_1.0.weight" in sd else None
    if convert is not None:
        try:
            return convert(sd)
        except (KeyError, IndexError, ValueError) as exc:  # a fork's extra layer, missing blocks, ...
            what = f"key {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
            raise ValueError(
                f"not the authors' RDAFNet layout ({what}): a checkpoint of a modified network cannot be "
                "mapped to this library's; use the released GoPro.pth"
            ) from None
    raise ValueError(
        "not an RDAFNet checkpoint in the authors' layout: expected a key 'first.0.weight' "
        f"(single-stage) or 'stage_1_enc_1.0.weight' (multi-stage); first keys: {list(sd)[:5]}"
    )


def _convert_single(sd: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    second = _indices(sd, r"second\.(\d+)\.")
    block_ids = [i for i in second if f"second.{i}.conv_1.0.weight" in sd]
    up_id = max(second)
    if not block_ids or block_ids != list(range(2, up_id)):  # second.0 down, second.1 its activation
        raise ValueError(f"its blocks are second.{block_ids[:3]}..., not second.2 ... second.{up_id - 1}")
    width = sd["first.0.weight"].shape[0]
    hp = {"width": width, "num_blocks": len(block_ids), **_infer_block_kwargs(sd, f"second.{block_ids[0]}.")}
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        head, _, rest = k.partition(".")
        if head == "first":
            out["body.head." + rest.split(".", 1)[1]] = v
        elif head == "third":
            idx, _, param = rest.partition(".")
            out[{"0": "body.fuse.", "2": "tail."}.get(idx, f"third.{idx}.") + param] = v
        elif head == "second":
            idx, _, sub = rest.partition(".")
            i = int(idx)
            if i == 0:
                out["body.down." + sub] = v
            elif i == up_id:
                out["body.up." + sub] = v
            else:
                out[f"body.blocks.{block_ids.index(i)}." + _map_block(sub)] = v
        else:
            out[k] = v  # left as is: load_state_dict will name it as unexpected
    return _variant_name(RDAFNet, hp) or "single-stage", hp, out


def _variant_name(cls: type[RDAFNetBase], hp: Mapping[str, Any]) -> str | None:
    """The registered variant of ``cls`` these inferred hyperparameters describe (with the defaults of
    what weights do not show: local residuals on, the paper's slope), if any."""
    for name, variant in VARIANTS.items():
        full = {k: list(v) if isinstance(v, tuple) else v for k, v in variant.hyperparameters().items()}
        if (
            variant.cls is cls
            and full["residual"]
            and full["negative_slope"] == 0.2
            and all(full[k] == (list(v) if isinstance(v, tuple) else v) for k, v in hp.items())
        ):
            return name
    return None


def _convert_multi(sd: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    stages = _indices(sd, r"stage_(\d+)_enc_1\.")
    num_blocks = [len(_indices(sd, rf"body_block_{s}\.(\d+)\.")) for s in stages]
    hp = {
        "width": sd["stage_1_enc_1.0.weight"].shape[0],
        "num_blocks": num_blocks,
        **_infer_block_kwargs(sd, "body_block_1.0."),
    }
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if m := re.match(r"stage_(\d+)_(enc_1|enc_2|dec_1|dec_2)\.0\.(.+)$", k):
            out[f"stages.{int(m[1]) - 1}.{_STAGE_PARTS[m[2]]}.{m[3]}"] = v
        elif m := re.match(r"body_block_(\d+)\.(\d+)\.(.+)$", k):
            out[f"stages.{int(m[1]) - 1}.blocks.{m[2]}.{_map_block(m[3])}"] = v
        elif m := re.match(r"sam(\d)(\d)\.(conv\d)\.(.+)$", k):
            out[f"sams.{int(m[1]) - 1}.{_SAM_PARTS[m[3]]}.{m[4]}"] = v
        elif m := re.match(r"cat(\d)(\d)\.(.+)$", k):
            out[f"merges.{int(m[1]) - 1}.{m[3]}"] = v
        elif m := re.match(r"csff_(\d+)_(enc|dec)_1\.(.+)$", k):
            out[f"csffs.{int(m[1]) - 2}.{m[2]}.{m[3]}"] = v
        elif k.startswith("last_conv."):
            out["tail." + k[len("last_conv.") :]] = v
        else:
            out[k] = v
    return "multi-stage", hp, out


def load_official(path: str | Path) -> RDAFNetBase:
    """Build the matching network and load an authors' checkpoint into it (strict)."""
    return from_official(read_checkpoint(path), source=str(path))


def from_official(state_dict: Mapping[str, torch.Tensor], *, source: str) -> RDAFNetBase:
    """Build the matching network for an authors' state dict and load it (strict)."""
    try:
        variant, hp, sd = convert_official(state_dict)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    model = build(variant, **hp)
    load_strict(model, sd, source=source)
    return model


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The config (architecture and hyperparameters) of a state dict in this library's layout, for files
    that carry none (spandrel passes only the tensors). ``residual`` and ``negative_slope`` leave no
    trace in the weights and take their defaults."""
    sd = strip_prefixes(state_dict)
    if "body.head.weight" in sd:
        blocks: int | list[int] = len(_indices(sd, r"body\.blocks\.(\d+)\."))
        arch, width = "RDAFNet", sd["body.head.weight"].shape[0]
        first = "body.blocks.0."
    elif "stages.0.head.weight" in sd:
        stages = _indices(sd, r"stages\.(\d+)\.head\.")
        arch, width, first = "RDAFNetMultiStage", sd["stages.0.head.weight"].shape[0], "stages.0.blocks.0."
        blocks = [len(_indices(sd, rf"stages\.{k}\.blocks\.(\d+)\.")) for k in stages]
    else:
        raise ValueError(
            "not an RDAFNet state dict in this library's layout: expected a key 'body.head.weight' "
            f"(single-stage) or 'stages.0.head.weight' (multi-stage); first keys: {list(sd)[:5]}"
        )
    rest = [k[len(first) :] for k in sd if k.startswith(first)]
    attention = (
        "fusion"
        if any(k.startswith("fusions.") for k in rest)
        else "layer"
        if any(k.startswith("attns.") for k in rest)
        else "none"
    )
    return {
        "architecture": arch,
        "width": width,
        "num_blocks": blocks,
        "attention": attention,
        "num_convs": len({k for k in rest if re.match(r"convs\.\d+\.weight$", k)}),
    }


def from_state_dict(state_dict: Mapping[str, torch.Tensor], *, source: str) -> RDAFNetBase:
    """The network of a state dict in either layout (the authors' or this library's), loaded strictly."""
    sd = strip_prefixes(state_dict)
    if is_official(sd):
        return from_official(sd, source=source)
    config = infer_config(sd)
    cls = ARCHITECTURES[config.pop("architecture")]
    name = _variant_name(cls, config)
    model = build(name, **config) if name else cls(**config)
    load_strict(model, sd, source=source)
    return model
