"""What a resumed run must share with the run that wrote its checkpoint: every setting that changes the
result (learning rate, batch, crop, data, loss, schedule, seed). The network itself is compared by the
trainer (``model_config``); ``steps`` may grow, and logging, checkpoints, workers and time limits may change."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: ``TrainConfig`` fields that change what a run computes.
RESULT_FIELDS = (
    "batch_size",
    "lr",
    "min_lr",
    "betas",
    "constant_fraction",
    "grad_clip",
    "freq_weight",
    "ema",
    "amp",
    "channels_last",
    "seed",
)


def data_identity(pairs: list[tuple[Path, Path]]) -> dict[str, Any]:
    """The training pairs as a count and a digest of their paths (which files, not their bytes)."""
    text = "\n".join(f"{Path(b).resolve()}\t{Path(s).resolve()}" for b, s in sorted(pairs))
    return {"pairs": len(pairs), "sha256": hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]}


def run_settings(config: Any, train_set: Any) -> dict[str, Any]:
    """This run's settings that change the result, JSON-ready (tuples as lists)."""
    out = {k: getattr(config, k) for k in RESULT_FIELDS}
    out["betas"] = list(out["betas"])
    out["crop"] = getattr(train_set, "crop", None)
    out["data"] = data_identity(list(train_set.pairs))
    return json.loads(json.dumps(out))


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``name: checkpoint X, this run Y`` for each setting the checkpoint recorded that differs now."""
    return [f"{k}: checkpoint {saved[k]!r}, this run {now.get(k)!r}" for k in sorted(saved) if saved[k] != now.get(k)]


def record_changes(config_json: Path, step: int, changes: list[str]) -> None:
    """Note in the run's ``config.json`` that it went on from ``step`` with other settings."""
    from rdafnet.utils.atomic import atomic_write

    data = json.loads(config_json.read_text()) if config_json.exists() else {}
    data.setdefault("resumed_with_changes", []).append({"step": step, "changes": changes})
    text = json.dumps(data, indent=2)
    atomic_write(config_json, lambda tmp: Path(tmp).write_text(text))
