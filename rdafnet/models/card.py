"""Model cards with the Hub's metadata header."""

from __future__ import annotations

import re
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from rdafnet.models.profile import profile

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


def model_card(
    model: Any,
    *,
    title: str | None = None,
    body: str = "",
    source: str = "PATH_OR_NAME",
    metrics: list[dict[str, Any]] | None = None,
    datasets: list[str] | None = None,
    license: str = "mit",
) -> ModelCard:
    """A model card for ``model``; ``metrics`` (name, type, value, dataset) go into the metadata."""
    cfg = model.config
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
        eval_results=eval_results,
        model_name=title or f"rdafnet-{cfg.get('variant') or cfg['architecture']}",
    )
    return ModelCard.from_template(
        data,
        template_str=_TEMPLATE,
        title=title or f"rdafnet {cfg.get('variant') or ''}".strip(),
        architecture=cfg["architecture"],
        variant=cfg.get("variant"),
        params=f"{prof.params:,}",
        macs=f"{prof.macs / 1e9:.1f} G at 720x1280",
        source=source,
        body=body,
    )
