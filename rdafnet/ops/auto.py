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
#: An inexact path (bf16, int8) must beat fp32 by this factor in the measurement to be chosen (noise must not
#: flip the choice, and a small gain is not worth the rounding).
AUTO_MARGIN = 1.15
#: An exact path (Winograd: float32 rounding apart, the same function) must beat fp32 by this factor.
EXACT_MARGIN = 1.05
#: The name of the Winograd path among the candidates.
WINOGRAD = "fp32-winograd"
#: Inputs of more pixels than this are measured on a smaller input of the same aspect ratio (a quarter of a
#: 720p frame; each path's time per pixel changes with the size while the feature maps still fit the caches,
#: and is close to a full frame's by this size).
MEASURE_PIXELS = 360 * 640
#: Each candidate is timed this many times, in turn with the others, and its fastest time counts.
ROUNDS = 2
#: The size ``auto`` decides for when none is given: the frames this library is mostly run on.
DEFAULT_SIZE = (720, 1280)


def measure_size(size: tuple[int, int]) -> tuple[int, int]:
    """The input size at which ``auto`` times the candidates for runs at ``size`` (H, W): ``size`` itself up
    to :data:`MEASURE_PIXELS` pixels, else the same aspect ratio scaled down to that many (multiples of 8)."""
    h, w = size
    if h * w <= MEASURE_PIXELS:
        return h, w
    scale = math.sqrt(MEASURE_PIXELS / (h * w))
    return max(8, round(h * scale / 8) * 8), max(8, round(w * scale / 8) * 8)


def _pick(candidates: list[str], times: dict[str, float]) -> str:
    """The rule: the fastest of fp32 and the candidates that beat fp32 by their margin (1.05x for Winograd,
    1.15x for bf16); int8 only if 1.15x faster than every other candidate."""
    fast = [
        c
        for c in candidates[1:]
        if c != INT8 and times["fp32"] / times[c] >= (EXACT_MARGIN if c == WINOGRAD else AUTO_MARGIN)
    ]
    best = min(["fp32", *fast], key=times.__getitem__)
    if INT8 in candidates and min(times[c] for c in candidates if c != INT8) / times[INT8] >= AUTO_MARGIN:
        best = INT8  # the least exact path: it must beat every other one by the margin
    return best


def auto_precision(
    device: torch.device | str,
    *,
    key: str,
    measure: Callable[[str, tuple[int, int]], float],
    extra: tuple[str, ...] = (),
    size: tuple[int, int] = DEFAULT_SIZE,
) -> str:
    """The fastest path on ``device`` for inputs of ``size`` (H, W), never one slower than fp32 there.

    CUDA: bf16 (fp16 on GPUs without bf16). CPU: the candidates are fp32, bf16 where it is native
    (AVX512-BF16, AMX) and the ``extra`` ones (Winograd, int8; ``measure`` returns ``inf`` for a candidate
    that must not be chosen). With one candidate it is fp32, unmeasured; otherwise ``measure(candidate,
    (h, w))`` times the model on an input of :func:`measure_size` (``size`` itself, or a quarter of a 720p
    frame for larger ones), :data:`ROUNDS` times in turn with the others (the fastest time counts), and the
    fastest is chosen by the rule of :func:`_pick`. The seconds are cached per
    ``key`` (the architecture), CPU model, torch version and measured size in
    ``$RDAFNET_CACHE/auto_precision.json`` (default ``~/.cache/rdafnet``), with each size decided so far, so a
    machine measures a model once per measured size.
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
    table = table if isinstance(table, dict) else {}
    cached = table.get(entry)
    if not isinstance(cached, dict) or cached.get("candidates") != candidates:
        cached = {"candidates": candidates}
    for field in ("seconds", "choices"):
        if not isinstance(cached.get(field), dict):
            cached[field] = {}
    at = measure_size(size)
    label = f"{at[0]}x{at[1]}"
    times = cached["seconds"].get(label)
    measured = not _valid(times, candidates)
    if measured:
        times = {c: math.inf for c in candidates}
        for _ in range(ROUNDS):  # in turn, so that a slow spell of the machine cannot favour one candidate
            for c in candidates:
                times[c] = min(times[c], measure(c, at))
        cached["seconds"][label] = times
    choice = _pick(candidates, cast("dict[str, float]", times))
    decided = f"{size[0]}x{size[1]}"
    if measured or cached["choices"].get(decided) != choice:
        cached["choices"][decided] = choice
        table[entry] = cached
        try:
            from rdafnet.utils.atomic import atomic_write

            text = json.dumps(table, indent=1)
            atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        except OSError:  # a read-only home: measure again next time
            pass
    return choice


def _valid(times: object, candidates: list[str]) -> bool:
    """Whether a cached measurement holds seconds for every candidate (a record edited or damaged by hand is
    measured again, never trusted or a crash)."""
    return isinstance(times, dict) and all(
        isinstance(times.get(c), (int, float)) and not isinstance(times[c], bool) and not math.isnan(times[c])
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
