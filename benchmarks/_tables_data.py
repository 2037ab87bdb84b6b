"""The benchmark results the generated tables quote: which run each table reads, and reading it."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: The speed run the tables quote (one run, one CPU: ratios are only compared within it).
SPEED = "zen4-2026-12-08-speed.json"
#: The per-layer convolution timings (``bench.py convs``) that docs/performance.md quotes.
CONVS = "zen4-2026-12-01-convs.json"
#: bf16 against fp32 with the bundled weights on real frames (``bench.py precision``).
PRECISION = "zen4-2026-12-01-precision.json"
#: int8 (and bf16) against fp32 on real frames, and int8 layer by layer, on a CPU with AMX (``bench.py precision``,
#: ``bench.py int8-layers``).
INT8_PRECISION, INT8_LAYERS = "amx-2026-12-04-precision.json", "amx-2026-12-04-int8-layers.json"
#: Tiled against whole-frame quality, and time and memory by frame size, for the bundled default.
TILING, MEMORY = "zen4-2026-12-01-tiling.json", "zen4-2026-12-01-memory.json"


@cache
def result(name: str = SPEED) -> dict:
    return json.loads((RESULTS / name).read_text())


def row(variant: str, path: str, name: str = SPEED) -> dict:
    for r in result(name)["rows"]:
        if r["variant"] == variant and r["path"] == path and r["size"] == "720x1280":
            return r
    raise KeyError(f"{name} has no row for {variant} {path} at 720x1280")


def _facts(r: dict) -> str:
    return f"CPU: {r['cpu']}; torch {r['torch']}, {r['threads']} threads; {r['date']}; `{r['command']}`"


def run_facts() -> str:
    """The machine and command of the speed run, as a sentence under its tables."""
    r = result()
    return f"CPU: {r['cpu']}; torch {r['torch']}, {r['threads']} threads; {r['date']}; `{r['command']}`\n"


MARKER = re.compile(r"^([ \t]*)(<!-- table: ([\w-]+) -->\n)(.*?)([ \t]*<!-- /table -->)", re.S | re.M)
