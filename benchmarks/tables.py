"""Tables of measured figures, generated from benchmark results: one source for each figure.

    python benchmarks/bench.py speed ... --json benchmarks/results/NAME.json   # a measurement
    python benchmarks/tables.py            # rewrite every generated table in the pages
    python benchmarks/tables.py --check    # exit 1 where a page differs from what this would write

A page holds a generated table between ``<!-- table: NAME -->`` and ``<!-- /table -->``; NAME is one of
:data:`TABLES`. ``tests/test_tables.py`` runs the check, so a figure edited by hand fails the tests.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from _tables_data import MARKER, ROOT, result, run_facts
from tables_cpus import (
    auto_notes,
    card_speed,
    ceiling,
    cli_default,
    which_path,
    which_path_notes,
    winograd_own,
    winograd_own_notes,
)
from tables_quality import (
    bf16_accuracy,
    bf16_summary,
    int8_accuracy,
    int8_layers,
    random_weights_note,
    tiling_memory,
    tiling_memory_notes,
    tiling_notes,
    tiling_quality,
)
from tables_speed import (
    authors_zoo,
    faq_speed,
    keep_gain,
    speed_summary,
    tiny_seconds,
    winograd,
    winograd_layers,
    winograd_notes,
    zoo,
)

__all__ = ["result"]  # (tests read the speed run through this module)

TABLES = {
    "zoo": zoo,
    "authors-zoo": authors_zoo,
    "winograd": winograd,
    "winograd-notes": winograd_notes,
    "speed-summary": speed_summary,
    "card-speed": card_speed,
    "which-path": which_path,
    "winograd-layers": winograd_layers,
    "faq-speed": faq_speed,
    "bf16-accuracy": bf16_accuracy,
    "bf16-summary": bf16_summary,
    "int8-accuracy": int8_accuracy,
    "int8-layers": int8_layers,
    "random-weights-note": random_weights_note,
    "tiling-quality": tiling_quality,
    "tiling-notes": tiling_notes,
    "tiling-memory": tiling_memory,
    "tiling-memory-notes": tiling_memory_notes,
    "keep-gain": keep_gain,
    "tiny-seconds": tiny_seconds,
    "speed-run": run_facts,
    "cli-default": cli_default,
    "winograd-own": winograd_own,
    "ceiling": ceiling,
    "which-path-notes": which_path_notes,
    "winograd-own-notes": winograd_own_notes,
    "auto-notes": auto_notes,
}
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "rdafnet" / "weights").glob("*/README.md")),
]


def render(text: str) -> str:
    """``text`` with every generated table written anew."""

    def fill(m: re.Match) -> str:  # the table takes the indentation of its marker (a list item's)
        if m[3] not in TABLES:
            raise KeyError(f"unknown generated table {m[3]!r}; known: {', '.join(TABLES)}")
        body = "".join(m[1] + line if line.strip() else line for line in TABLES[m[3]]().splitlines(keepends=True))
        return m[1] + m[2] + body + m[5]

    return MARKER.sub(fill, text)


def stale() -> list[Path]:
    """Pages whose generated tables differ from what :func:`render` writes."""
    return [p for p in PAGES if MARKER.search(p.read_text()) and render(p.read_text()) != p.read_text()]


def main() -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--check", action="store_true", help="only report pages that differ (exit 1)")
    args = a.parse_args()
    if args.check:
        bad = stale()
        for p in bad:
            print(f"{p.relative_to(ROOT)}: a generated table differs; run python benchmarks/tables.py", file=sys.stderr)
        return 1 if bad else 0
    for p in PAGES:
        text = p.read_text()
        if MARKER.search(text):
            p.write_text(render(text))
            print(f"wrote the tables of {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
