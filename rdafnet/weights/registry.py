"""The registry of named pretrained models (``rdafnet/weights/registry.json``): bundled models,
Hub repositories and the authors' releases, each with where it lives and how it is checked."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _read() -> dict[str, Any]:
    return json.loads(resources.files("rdafnet").joinpath("weights/registry.json").read_text())


def models() -> dict[str, dict[str, Any]]:
    """Every registered name -> its registry entry."""
    return _read()["models"]


def default_name() -> str | None:
    """The name ``from_pretrained()`` loads without arguments."""
    return _read()["default"]


def entry(name: str | None = None) -> dict[str, Any]:
    """The registry entry of ``name`` (the default without one); an unknown name names the known ones."""
    name = name or default_name()
    if name is None:
        raise ValueError("this install bundles no default model; pass a path, hub id or registered name")
    reg = models()
    if name not in reg:
        raise ValueError(f"unknown pretrained model {name!r}; registered: {', '.join(reg) or 'none'}")
    return reg[name]
