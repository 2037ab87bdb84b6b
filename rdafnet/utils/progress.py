"""Progress bars: tqdm's notebook widget where a notebook can show it, the text bar everywhere else."""

from __future__ import annotations

import importlib.util
from typing import Any


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A ``tqdm`` bar. In Jupyter without ipywidgets, ``tqdm.auto`` would warn ("IProgress not found") on
    every bar: the text bar is used there instead, which notebooks show as plain output."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
