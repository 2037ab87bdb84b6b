"""``precision="auto"``: the fastest path for a model on a device, measured once per machine and cached."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path

import torch

from rdafnet.ops.int8 import INT8
from rdafnet.utils.cache import cache_dir
from rdafnet.utils.device import native_precision

#: ``precision="auto"``: the fastest of :data:`PRECISIONS` for a model on a device.
AUTO = "auto"
#: bf16 must beat fp32 by this factor in the measurement to be chosen (noise must not flip the choice).
AUTO_MARGIN = 1.15


def auto_precision(
    device: torch.device | str, *, key: str, measure: Callable[[str], float], extra: tuple[str, ...] = ()
) -> str:
    """The fastest path on ``device``, never one slower than fp32 there.

    CUDA: bf16 (fp16 on GPUs without bf16). CPU: the candidates are fp32, bf16 where it is native
    (AVX512-BF16, AMX) and the ``extra`` ones (other fp32 convolution algorithms, int8; ``measure`` returns
    ``inf`` for a candidate that must not be chosen). With one candidate it is
    fp32, unmeasured; otherwise ``measure(candidate)`` times the model in each, and the fastest other than
    fp32 is chosen only if it is at least 1.15x faster than fp32: narrow networks gain little from bf16 on
    CPUs without AMX; int8, only if it is also 1.15x faster than every other candidate. The choice is
    cached per ``key`` (the architecture), CPU model and torch version in ``$RDAFNET_CACHE/auto_precision.json``
    (default ``~/.cache/rdafnet``), so it is measured once.
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
    cached = table.get(entry, {})
    if cached.get("choice") in candidates and cached.get("candidates", ["fp32", "bf16"]) == candidates:
        return cached["choice"]
    times = {c: measure(c) for c in candidates}
    best = min(candidates[1:], key=times.__getitem__)
    if best == INT8:  # the least exact path: it must beat every other one by the margin
        others = [c for c in candidates if c != INT8]
        runner_up = min(others, key=times.__getitem__)
        best = best if times[runner_up] / times[INT8] >= AUTO_MARGIN else runner_up
    choice = best if best == "fp32" or times["fp32"] / times[best] >= AUTO_MARGIN else "fp32"
    table[entry] = {"choice": choice, "candidates": candidates, **{f"{c}_s": round(t, 5) for c, t in times.items()}}
    try:
        from rdafnet.utils.atomic import atomic_write

        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(table, indent=1)))
    except OSError:  # a read-only home: measure again next time
        pass
    return choice


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
