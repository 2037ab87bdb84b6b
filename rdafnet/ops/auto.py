"""``precision="auto"``: the fastest path for a model on a device, measured once per machine and cached."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch

from rdafnet.ops.int8 import INT8
from rdafnet.utils.cache import cache_dir
from rdafnet.utils.device import native_precision

#: ``precision="auto"``: the fastest of :data:`PRECISIONS` for a model on a device.
AUTO = "auto"
#: bf16 must beat fp32 by this factor in the measurement to be chosen (noise must not flip the choice).
AUTO_MARGIN = 1.15


#: Square sides at which ``auto`` times each candidate. The choice for an input size comes from a line
#: ``seconds = a + b * pixels`` fitted through them per candidate: the paths' costs grow at different rates
#: (Winograd's transforms cost more at small sizes, its fewer multiplications pay at large ones), so a choice
#: made at one small size can be wrong for the frames that run.
MEASURE_SIDES = (96, 160, 224)
#: The size ``auto`` decides for when none is given: the frames this library is mostly run on.
DEFAULT_SIZE = (720, 1280)


def fit_cost(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``seconds = a + b * pixels`` through ``(pixels, seconds)`` points."""
    n = len(points)
    mx = sum(p for p, _ in points) / n
    my = sum(t for _, t in points) / n
    var = sum((p - mx) ** 2 for p, _ in points)
    b = sum((p - mx) * (t - my) for p, t in points) / var if var else 0.0
    return my - b * mx, b


def _pick(candidates: list[str], times: dict[str, float]) -> str:
    """The rule: the fastest other than fp32 only if 1.15x faster than fp32; int8 only if also 1.15x faster
    than every other candidate."""
    best = min(candidates[1:], key=times.__getitem__)
    if best == INT8:  # the least exact path: it must beat every other one by the margin
        others = [c for c in candidates if c != INT8]
        runner_up = min(others, key=times.__getitem__)
        best = best if times[runner_up] / times[INT8] >= AUTO_MARGIN else runner_up
    return best if best == "fp32" or times["fp32"] / times[best] >= AUTO_MARGIN else "fp32"


def auto_precision(
    device: torch.device | str,
    *,
    key: str,
    measure: Callable[[str, int], float],
    extra: tuple[str, ...] = (),
    size: tuple[int, int] = DEFAULT_SIZE,
) -> str:
    """The fastest path on ``device`` for inputs of ``size`` (H, W), never one slower than fp32 there.

    CUDA: bf16 (fp16 on GPUs without bf16). CPU: the candidates are fp32, bf16 where it is native
    (AVX512-BF16, AMX) and the ``extra`` ones (other fp32 convolution algorithms, int8; ``measure`` returns
    ``inf`` for a candidate that must not be chosen). With one candidate it is fp32, unmeasured; otherwise
    ``measure(candidate, side)`` times the model on a ``side`` x ``side`` input at each of
    :data:`MEASURE_SIDES`, a cost line is fitted per candidate, and the costs predicted at ``size`` decide:
    the fastest other than fp32 is chosen only if it is at least 1.15x faster than fp32; int8, only if it is
    also 1.15x faster than every other candidate. The cost lines are cached per ``key`` (the architecture),
    CPU model and torch version in ``$RDAFNET_CACHE/auto_precision.json`` (default ``~/.cache/rdafnet``), with
    the sizes they were measured at and each size decided so far, so a machine measures a model once.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type != "cpu":
        return "fp32"
    candidates = ["fp32", *(["bf16"] if native_precision(device, torch.bfloat16) else []), *extra]
    if len(candidates) == 1:
        return "fp32"
    entry = f"{key} | {_cpu_model()} | torch {torch.__version__}"
    path = _cache_file()
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    cached = table.get(entry) if isinstance(table, dict) else None
    cached = cached if isinstance(cached, dict) else {}
    sides = [f"{s}x{s}" for s in MEASURE_SIDES]
    kept = cached.get("cost")
    same = cached.get("candidates") == candidates and cached.get("measured_at") == sides
    costs: dict[str, list[float]] = cast("dict[str, list[float]]", kept) if same and _valid(kept, candidates) else {}
    if not costs:
        for c in candidates:
            points = [(s * s, measure(c, s)) for s in MEASURE_SIDES]
            costs[c] = [math.inf, 0.0] if any(math.isinf(t) for _, t in points) else list(fit_cost(points))
        cached = {"candidates": candidates, "measured_at": sides, "cost": costs, "choices": {}}
    pixels = size[0] * size[1]
    times = {c: max(costs[c][0] + costs[c][1] * pixels, 1e-9) for c in candidates}
    choice = _pick(candidates, times)
    label = f"{size[0]}x{size[1]}"
    if not isinstance(cached.get("choices"), dict):
        cached["choices"] = {}
    if cached["choices"].get(label) != choice:
        cached["choices"][label] = choice
        table = table if isinstance(table, dict) else {}
        table[entry] = cached
        try:
            from rdafnet.utils.atomic import atomic_write

            text = json.dumps(table, indent=1)
            atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        except OSError:  # a read-only home: measure again next time
            pass
    return choice


def _valid(costs: object, candidates: list[str]) -> bool:
    """Whether a cached record holds a cost line ``[a, b]`` of numbers for every candidate (a record edited
    or damaged by hand is measured again, never trusted or a crash)."""
    return isinstance(costs, dict) and all(
        isinstance(costs.get(c), list)
        and len(costs[c]) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v) for v in costs[c])
        for c in candidates
    )


def _cache_file() -> Path:
    return cache_dir() / "auto_precision.json"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
