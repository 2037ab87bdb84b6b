"""Reading and checking weight files, whatever model they are for: safe ``.pth`` reading, key
prefixes, strict loading that names the keys, safetensors with the config in their metadata, sha256.
Imports no model."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_PREFIXES = ("module.", "_orig_mod.")


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) key prefixes."""
    out = {}
    for k, v in state_dict.items():
        changed = True
        while changed:
            changed = False
            for p in _PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p) :], True
        out[k] = v
    return out


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a ``.pth``/``.pt`` checkpoint safely (``weights_only=True``) and return its state dict.

    Accepts ``{'state_dict': ...}`` (the authors' format), ``{'model': ...}`` or a bare state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (no such checkpoint file)")
    _refuse_non_checkpoint(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name and a next step
        reason = (
            "it holds objects other than tensors"
            if isinstance(exc, pickle.UnpicklingError)
            else (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        )
        raise ValueError(
            f"cannot read {path} as a PyTorch checkpoint with weights_only=True ({reason}); "
            "only plain tensor checkpoints are accepted, never arbitrary pickles"
        ) from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "params"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} holds no state dict of tensors (found {type(obj).__name__})")
    return dict(obj)


def _refuse_non_checkpoint(path: Path) -> None:
    """A file that cannot be a PyTorch checkpoint (neither a zip archive nor a pickle) is named for what
    it looks like: a web page a download returned (a quota, login or error page) most often."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":  # torch.save's zip; a legacy pickle
        return
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml", b"<")):
        raise ValueError(
            f"{path} is an HTML/XML page, not a checkpoint: the download returned a web page (a quota, login or "
            "error page?); download the file again, or fetch it by hand in a browser"
        )
    if not head:
        raise ValueError(f"{path} is empty, not a checkpoint: download or save it again")
    raise ValueError(f"{path} is not a PyTorch checkpoint (it starts with {head[:16]!r}); check the file")


class IntegrityError(ValueError):
    """A weights file whose sha256 differs from the registered one."""


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(
    path: str | os.PathLike,
    expected: str,
    *,
    remedy: str = "delete it and load again (force_download=True for hub files)",
) -> None:
    """Raise :class:`IntegrityError` (naming the file and what to do) unless ``path`` has this sha256."""
    got = sha256(path)
    if got != expected:
        raise IntegrityError(
            f"{path} has sha256 {got}, expected {expected}: the file is corrupted or was altered; {remedy}"
        )


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """A ``config.json`` as a dict; a file that is not a JSON object is an error that names it."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path} as a JSON model config ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{path} holds a JSON {type(config).__name__}, not a model config object")
    return config


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, ``module.``/``_orig_mod.`` prefixes removed."""
    try:
        return strip_prefixes(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated or "
            "corrupted: download or save it again"
        ) from exc


def safetensors_config(path: Path) -> dict[str, Any] | None:
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated or "
            "corrupted: download or save it again"
        ) from exc
    if "rdafnet.config" not in meta:
        return None
    try:
        config = json.loads(meta["rdafnet.config"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: its metadata key rdafnet.config is not JSON ({exc}); save the model again") from exc
    if not isinstance(config, dict):
        raise ValueError(
            f"{path}: its metadata key rdafnet.config holds a JSON {type(config).__name__}, not a model config object"
        )
    return config


def load_strict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that names missing and unexpected keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )

    def short(xs: list[str]) -> str:
        return ", ".join(xs[:8]) + (f" ... ({len(xs)} in all)" if len(xs) > 8 else "") if xs else "none"

    if missing or unexpected or shapes:
        raise ValueError(
            f"weights in {source} do not fit {type(model).__name__} "
            f"({getattr(model, 'variant', None)}): missing keys: {short(missing)}; "
            f"unexpected keys: {short(unexpected)}; shape mismatches: {short(shapes)}"
        )
    # load_state_dict would cast integer tensors to float and accept NaN: both give black or unchanged images
    kinds = sorted(
        f"{k} ({state_dict[k].dtype})"
        for k in own
        if own[k].is_floating_point() and not state_dict[k].is_floating_point()
    )
    if kinds:
        raise ValueError(
            f"weights in {source} are not floating point: {short(kinds)}; the file is not a trained "
            "RDAFNet (or was quantised): use the original float weights"
        )
    bad = sorted(k for k in own if state_dict[k].is_floating_point() and not torch.isfinite(state_dict[k]).all())
    if bad:
        raise ValueError(
            f"weights in {source} hold NaN or inf values in {short(bad)}; the model diverged in "
            "training or the file is damaged: use an earlier checkpoint"
        )
    model.load_state_dict(state_dict, strict=True)


def state_digest(model: torch.nn.Module | dict[str, torch.Tensor]) -> str:
    """sha256 of a module's state (names, dtypes and values; a module or its state dict): whether earlier
    outputs came from this model."""
    h = hashlib.sha256()
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    for name, t in state.items():
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str]) -> None:
    """``safetensors.torch.save_file`` with a reproducible file: the same tensors and metadata give the same
    bytes (safetensors writes the metadata in hash order, which changes from run to run, so the header is
    rewritten with its keys in a fixed order; it keeps its length, so the data stays where it is)."""
    import struct

    from safetensors.torch import save_file

    save_file(tensors, path, metadata=metadata)
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        meta = header.pop("__metadata__", None)
        ordered = ({"__metadata__": dict(sorted(meta.items()))} if meta else {}) | header
        text = json.dumps(ordered, separators=(",", ":")).encode()
        if len(text) > n:  # (never: the same content, reordered) keep what safetensors wrote
            return
        f.seek(8)
        f.write(text + b" " * (n - len(text)))  # the format pads headers with spaces
