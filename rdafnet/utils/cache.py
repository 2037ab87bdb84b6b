"""Where the library keeps what it makes once and reuses: ``$RDAFNET_CACHE``, else
``$XDG_CACHE_HOME/rdafnet``, else ``~/.cache/rdafnet``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The library's cache folder (not created here)."""
    root = (
        os.environ.get("RDAFNET_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rdafnet"
    )
    return Path(root).expanduser()  # a quoted "~/x" in the variable means the home folder, as in a shell


def offline() -> bool:
    """Whether the user asked for no network (``HF_HUB_OFFLINE``, read as the Hugging Face Hub reads it)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")
