"""Model cards with the Hub's metadata header."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from rdafnet.models.profile import profile
from rdafnet.utils.atomic import atomic_write


class RDAFNetCard(ModelCard):
    """A model card whose ``save`` is atomic: a card file is never left empty or half-written."""

    def save(self, filepath: str | os.PathLike) -> None:
        text = str(self)
        atomic_write(filepath, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), need=len(text.encode()))


_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

RDAFNet motion deblurring model ("Dynamic Scene Deblurring Based on Continuous Cross-Layer
Attention Transmission", Hua et al.) for the `rdafnet` library (`pip install rdafnet`).

| | |
| --- | --- |
| architecture | `{{ architecture }}` (variant `{{ variant }}`) |
| parameters | {{ params }} |
| multiply-adds | {{ macs }} |
| input | RGB float tensor (B, 3, H, W) in [0, 1], any size |
{{ provenance }}

## Usage

```python
import rdafnet
model = rdafnet.from_pretrained("{{ source }}")
sharp = rdafnet.deblur("blurry.png", model)
```

{{ body }}
"""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def identity_metrics(identity: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics of a registry entry as card metrics: the paper's figures (``paper``: benchmark ->
    scores) and measured per-frame ones (``metrics``: frame -> scores)."""
    out = [
        {"dataset": f"{ds} test set (paper)", "dataset_type": ds.lower(), "type": kind, "value": value}
        for ds, scores in (identity.get("paper") or {}).items()
        for kind, value in scores.items()
    ]
    out += [
        {"dataset": f"{frame} (measured)", "type": kind, "value": value}
        for frame, scores in (identity.get("metrics") or {}).items()
        for kind, value in scores.items()
        if kind in ("psnr", "ssim")
    ]
    return out


def _provenance(identity: dict[str, Any] | None) -> str:
    """Table rows that say where the weights come from."""
    if not identity:
        return ""
    if "name" not in identity:
        return f"| base model | `{identity['base_model']}`, fine-tuned from it |"
    rows = {
        "weights": f"`{identity['name']}` ({identity.get('source', 'registered')})",
        "description": identity.get("description"),
        "trained on": identity.get("trained_on"),
        "licence": identity.get("license"),
        "homepage": identity.get("homepage"),
    }
    return "\n".join(f"| {k} | {v} |" for k, v in rows.items() if v)


def model_card(
    model: Any,
    *,
    title: str | None = None,
    body: str = "",
    source: str = "PATH_OR_NAME",
    metrics: list[dict[str, Any]] | None = None,
    datasets: list[str] | None = None,
    license: str | None = None,
    identity: dict[str, Any] | None = None,
) -> ModelCard:
    """A model card for ``model``; ``metrics`` (name, type, value, dataset) go into the metadata.
    ``identity`` (a registry entry, or ``{"base_model": name}`` for fine-tuned weights) names the model,
    its licence and its published metrics; a hub id as base model goes into ``base_model``."""
    cfg = model.config
    identity = identity or {}
    name = identity.get("name")
    base = identity.get("base_model")
    title = title or name
    metrics = metrics if metrics is not None else (identity_metrics(identity) or None)
    license = license or str(identity.get("license") or "mit").lower()
    prof = profile(model, (720, 1280))
    eval_results = None
    if metrics:
        from huggingface_hub import EvalResult

        # the Hub groups results by dataset *type*: a type per dataset keeps each result under its own name
        eval_results = [
            EvalResult(
                task_type="image-to-image",
                dataset_type=m.get("dataset_type", _slug(m["dataset"])),
                dataset_name=m["dataset"],
                metric_type=m["type"],
                metric_value=m["value"],
                metric_name=m.get("name", m["type"]),
            )
            for m in metrics
        ]
    data = ModelCardData(
        library_name="rdafnet",
        license=license,
        pipeline_tag="image-to-image",
        tags=["image-deblurring", "motion-deblurring", "rdafnet", "pytorch"],
        datasets=datasets,
        base_model=base if base and "/" in base else None,
        eval_results=eval_results,
        model_name=title or f"rdafnet-{cfg.get('variant') or cfg['architecture']}",
    )
    if base and not body:
        body = f"Fine-tuned from `{base}`."
    return RDAFNetCard.from_template(
        data,
        template_str=_TEMPLATE,
        title=title or f"rdafnet {cfg.get('variant') or ''}".strip(),
        architecture=cfg["architecture"],
        variant=cfg.get("variant"),
        params=f"{prof.params:,}",
        macs=f"{prof.macs / 1e9:.1f} G at 720x1280",
        source=source,
        body=body,
        provenance=_provenance(identity),
    )
