"""File names in the order people number them: ``frame2`` before ``frame10``."""

from __future__ import annotations

import re
from pathlib import Path

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | Path) -> tuple:
    """A sort key that compares the runs of digits in a path by their value (``1, 2, ..., 10``) and the rest
    as text, so frames numbered without zero padding come in their order; zero-padded names keep theirs."""
    parts = _DIGITS.split(str(path))
    return tuple((0, int(p), p) if i % 2 else (1, 0, p) for i, p in enumerate(parts))
