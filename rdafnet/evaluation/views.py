"""Before/after views written beside restored images (``rdafnet deblur --compare``): one
``<name>.compare.html`` per image and an ``index.html`` that links them."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rdafnet.evaluation.compare import compare, page
from rdafnet.utils.atomic import atomic_write

#: Marks an index page this library wrote (rewritten by later runs; any other index.html is kept).
_GENERATOR = '<meta name="generator" content="rdafnet deblur --compare">'


def compare_path(target: Path) -> Path:
    """Where the view of the restored image ``target`` goes: ``<stem>.compare.html`` beside it."""
    return target.with_name(f"{target.stem}.compare.html")


def check_views(targets: Sequence[Path]) -> None:
    """Refuse, before any work, outputs whose views would share a file (``a.png`` and ``a.jpg``)."""
    seen: dict[Path, Path] = {}
    for t in targets:
        view = compare_path(t)
        if view in seen:
            raise ValueError(
                f"--compare: {seen[view].name} and {t.name} would share the view {view.name}; "
                "restore them in separate runs or pass --format to give them one format"
            )
        seen[view] = t


def write_view(source: Path, target: Path, before: np.ndarray, after: np.ndarray, *, overwrite: bool) -> Path:
    """The before/after view of ``source`` and its restoration ``target``."""
    view = compare(before, after, labels=(f"blurry: {source.name}", f"restored: {target.name}"))
    return view.save(compare_path(target), overwrite=overwrite)


def write_index(folder: Path, views: Sequence[Path]) -> Path | None:
    """``folder/index.html`` linking ``views`` (kept as it is where it is not this library's)."""
    index = folder / "index.html"
    if index.exists() and _GENERATOR not in index.read_text(errors="replace")[:2000]:
        return None
    links = "".join(
        f'<li><a href="{html.escape(os.path.relpath(v, folder))}">{html.escape(v.name)}</a></li>' for v in views
    )
    text = page(f"{_GENERATOR}<h1>Before and after</h1><ol>{links}</ol>", "rdafnet before/after views")
    return atomic_write(index, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
