"""Where weights come from: bundled models, registered names, Hugging Face Hub ids, local folders,
``.safetensors`` files and the authors' ``.pth`` checkpoints, each resolved to a file and built
through the variant registry (:mod:`rdafnet.models`)."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from rdafnet.models.identity import attach_identity
from rdafnet.models.networks import MAX_CONFIG_PARAMS, RDAFNetBase, from_config, verify_cached_blob
from rdafnet.utils.cache import offline
from rdafnet.utils.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    IntegrityError,
    load_strict,
    read_checkpoint,
    read_config,
    read_safetensors,
    safetensors_config,
    sha256,
    strip_prefixes,
    verify_sha256,
)
from rdafnet.weights import authors, registry
from rdafnet.weights.convert import from_official, is_official

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "IntegrityError",
    "bundled_dir",
    "from_pretrained",
    "list_pretrained",
    "pretrained_info",
    "sha256",
    "verify_sha256",
]
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")


def list_pretrained() -> dict[str, str]:
    """Registered pretrained models (bundled, and the authors' releases): name -> one-line description.
    :func:`pretrained_info` gives the whole entry."""
    return {name: entry["description"] for name, entry in registry.models().items()}


def pretrained_info(name: str | None = None) -> dict[str, Any]:
    """The registry entry of a pretrained model (source, files and sha256, metrics); for the authors'
    releases also whether it is cached here, where, and the sha256 of the authors' file."""
    name = name or registry.default_name()
    entry = dict(registry.entry(name))
    if entry["source"] == "authors" and name is not None:
        entry.update(authors.cache_status(name))
    return entry


def bundled_dir(entry: dict[str, Any]) -> Path:
    """Folder of a bundled model inside the installed package."""
    return Path(str(resources.files("rdafnet").joinpath(entry["path"])))


def _build_and_load(
    config: dict[str, Any], weights: Path, source: str, config_file: Path | None = None, *, registered: bool = False
) -> RDAFNetBase:
    """The network of ``config`` with the weights of ``weights``; an unregistered config is bounded in size."""
    try:
        model = from_config(config, max_params=None if registered else MAX_CONFIG_PARAMS)
    except ValueError as exc:
        raise ValueError(f"{config_file or weights}: {exc}") from exc
    if "weights_sha256" in config:  # written by save_pretrained
        verify_sha256(weights, config["weights_sha256"], remedy="save or download the model again")
    load_strict(model, read_safetensors(weights), source=source)
    return model


def _load_folder(
    folder: Path, *, source: str, sha: dict[str, str] | None = None, remedy: str = "delete it and load again"
) -> RDAFNetBase:
    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not w_path.exists():
        raise ValueError(
            f"{folder} holds no {WEIGHTS_NAME}; expected a folder written by "
            "model.save_pretrained() (config.json + model.safetensors)"
        )
    for name, digest in (sha or {}).items():
        verify_sha256(folder / name, digest, remedy=remedy)
    config = read_config(cfg_path) if cfg_path.exists() else safetensors_config(w_path)
    if config is None:
        raise ValueError(f"{folder} has no {CONFIG_NAME} and {w_path.name} carries no config metadata")
    model = _build_and_load(
        config,
        w_path,
        f"{w_path} (config: {config.get('variant') or config.get('architecture')})",
        cfg_path if cfg_path.exists() else None,
        registered=bool(sha),
    )
    readme = folder / "README.md"
    card = readme.read_text(errors="replace") if readme.is_file() else None
    model.pretrained = config.get("pretrained")
    model.card_text = card if card and "library_name: rdafnet" in card[:2000] else None
    return model


def _load_file(path: Path) -> RDAFNetBase:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        config = safetensors_config(path)
        if config is None and (path.parent / CONFIG_NAME).exists():
            config = read_config(path.parent / CONFIG_NAME)
        if config is None:
            raise ValueError(
                f"{path} carries no rdafnet config (metadata) and has no {CONFIG_NAME} beside "
                "it; save models with model.save_pretrained()"
            )
        return _build_and_load(config, path, str(path))
    if suffix in (".pth", ".pt", ".ckpt", ".tar"):
        sd = strip_prefixes(read_checkpoint(path))
        if is_official(sd):
            return from_official(sd, source=str(path))
        raise ValueError(
            f"{path} is not an authors' RDAFNet checkpoint (no 'first.*' or 'stage_1_*' keys); "
            "for this library's own weights use a save_pretrained folder or .safetensors file"
        )
    raise ValueError(
        f"unsupported weights file {path}: expected .safetensors, a save_pretrained folder, "
        "or the authors' .pth checkpoint"
    )


def _hub_download(repo_id: str, filename: str, *, revision: str | None, **kw: Any) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, **kw))
    except Exception as exc:  # noqa: BLE001 - re-raised with what to do next
        hint = (
            ("it is not in the local Hugging Face cache; connect once to download it, or pass a local path")
            if kw.get("local_files_only") or offline()
            else "check the repository id, revision and your network"
        )
        raise ValueError(
            f"cannot get {filename} of hub repository {repo_id!r} "
            f"(revision {revision or 'main'}): {hint} ({type(exc).__name__}: {exc})"
        ) from exc


def _load_hub(repo_id: str, *, revision: str | None, sha: dict[str, str] | None = None, **kw: Any) -> RDAFNetBase:
    files = {name: _hub_download(repo_id, name, revision=revision, **kw) for name in (CONFIG_NAME, WEIGHTS_NAME)}
    for name, p in files.items():
        if sha and name in sha:
            verify_sha256(p, sha[name])
        elif name == WEIGHTS_NAME:
            verify_cached_blob(p)
    return _load_folder(files[WEIGHTS_NAME].parent, source=f"hub:{repo_id}@{revision or 'main'}")


def from_pretrained(
    source: str | os.PathLike | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    token: str | bool | None = None,
):
    """Load a pretrained RDAFNet, in eval mode, its config at ``model.config``.

    ``source``: ``None`` (the bundled default, no network), a registered name
    (:func:`list_pretrained`; the authors' releases are downloaded and converted into the cache on
    first use, see :func:`rdafnet.download`), a Hugging Face Hub id ``owner/name`` (``@revision`` optional), a
    folder written by ``save_pretrained``, a ``.safetensors`` file, or the authors' ``GoPro.pth``.
    Registered files are checked against their sha256. ``local_files_only=True`` (or
    ``HF_HUB_OFFLINE=1``) loads hub models from the local cache without network.
    """
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"from_pretrained takes a registered name, a hub id or a path (str or Path), got "
            f"{type(source).__name__}; rdafnet.list_pretrained() lists the names"
        )
    if isinstance(source, str) and not source.strip():
        raise ValueError(
            "from_pretrained got an empty name; pass a registered name (rdafnet.list_pretrained()), "
            "a hub id owner/name, a path, or nothing for the bundled default"
        )
    hub_kw: dict[str, Any] = {
        "cache_dir": cache_dir,
        "local_files_only": local_files_only,
        "force_download": force_download,
        "token": token,
    }
    name = registry.default_name() if source is None else None
    if source is not None and not isinstance(source, Path) and str(source) in registry.models():
        name = str(source)
    if name is not None:
        entry = registry.entry(name)
        if entry["source"] == "bundled":
            model = _load_folder(
                bundled_dir(entry),
                source=f"bundled:{name}",
                sha=entry["sha256"],
                remedy="the installed package is damaged: reinstall it (pip install --force-reinstall rdafnet)",
            )
        elif entry["source"] == "authors":
            folder, sha, remedy = authors.prepare(name, local_files_only=local_files_only, force=force_download)
            model = _load_folder(folder, source=f"authors:{name}", sha=sha, remedy=remedy)
            authors.check_model(name, model)
        else:
            model = _load_hub(entry["repo_id"], revision=revision or entry["revision"], sha=entry["sha256"], **hub_kw)
        info: dict[str, Any] | None = {"name": name, **{k: v for k, v in entry.items() if k != "sha256"}}
    else:
        if source is None:
            raise ValueError("this install bundles no default model; pass a path, hub id or registered name")
        path = Path(source)
        if isinstance(source, Path) and not path.exists() and str(source) in registry.models():
            raise ValueError(
                f"{path} does not exist; {str(source)!r} is also a registered model name: pass it as a "
                f"string, from_pretrained({str(source)!r}), to load that"
            )
        if path.is_dir():
            model = _load_folder(path, source=str(path))
        elif path.exists():
            model = _load_file(path)
        elif _HUB_ID.match(str(source)) and not str(source).startswith((".", "/")):
            repo_id, _, rev = str(source).partition("@")
            model = _load_hub(repo_id, revision=rev or revision, **hub_kw)
        else:
            raise ValueError(
                f"{str(source)!r} is not a registered model ({', '.join(registry.models()) or 'none'}), "
                "an existing file or folder, or a hub id 'owner/name'"
            )
        info = {**model.pretrained, "loaded_from": str(source)} if model.pretrained else None
    if info is None:
        model.pretrained, model.card_text = {"source": str(source)}, None
    else:
        attach_identity(model, info, model.card_text)
    model.eval()
    return model.to(device=device, dtype=dtype) if (device is not None or dtype is not None) else model
