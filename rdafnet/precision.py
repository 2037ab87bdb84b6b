"""Precisions: the ones the library runs, and where reduced precision is native (and pays off)."""
from __future__ import annotations

import functools
import json
import platform
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ._cache import cache_dir

#: The precisions ``optimize(precision=...)``, ``deblur`` and the CLI accept, and their compute dtype.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_precision(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether ``dtype`` (bf16 or fp16) arithmetic is native on ``device``: any CUDA GPU; a CPU with
    AVX512-BF16 (bf16) or AMX-FP16 (fp16). Elsewhere oneDNN emulates it, much slower than fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return _cpu_native(dtype)


@functools.cache
def _cpu_native(dtype: torch.dtype) -> bool:
    probe = {torch.bfloat16: "_is_avx512_bf16_supported", torch.float16: "_is_amx_fp16_supported"}.get(dtype)
    native = getattr(torch.cpu, probe, None) if probe else None
    return bool(native and native())


def bf16_native(device: torch.device | str) -> bool:
    """Whether bf16 arithmetic is native on ``device``: any CUDA GPU, or a CPU with AVX512-BF16
    (and AMX), where oneDNN runs bf16 convolutions faster than fp32. Elsewhere bf16 is
    emulated and slower, so callers keep fp32."""
    return native_precision(device, torch.bfloat16)


def warn_if_emulated(device: torch.device | str, dtype: torch.dtype) -> None:
    """Warn (once per call site) that ``dtype`` is emulated on ``device`` and so much slower than fp32."""
    if not native_precision(device, dtype):
        name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))
        warnings.warn(f"{name} is emulated on this {torch.device(device).type} (no native {name} "
                      f"instructions), so it is slower than fp32 here (docs/performance.md has the figures); "
                      f"use precision='fp32' (or 'auto', the CLI's default, which picks fp32 here) on this machine",
                      RuntimeWarning, stacklevel=2)



#: ``precision="auto"``: the fastest of :data:`PRECISIONS` for a model on a device.
AUTO = "auto"
#: bf16 must beat fp32 by this factor in the measurement to be chosen (noise must not flip the choice).
AUTO_MARGIN = 1.15


def auto_precision(device: torch.device | str, *, key: str, measure: Callable[[str], float],
                   extra: tuple[str, ...] = ()) -> str:
    """The fastest path on ``device``, never one slower than fp32 there.

    CUDA: bf16 (fp16 on GPUs without bf16). CPU: the candidates are fp32, bf16 where it is native
    (AVX512-BF16, AMX) and the ``extra`` ones (other fp32 convolution algorithms). With one candidate it is
    fp32, unmeasured; otherwise ``measure(candidate)`` times the model in each, and the fastest other than
    fp32 is chosen only if it is at least 1.15x faster than fp32: narrow networks gain little from bf16 on
    CPUs without AMX. The choice is cached per ``key`` (the architecture), CPU model and torch version in
    ``$RDAFNET_CACHE/auto_precision.json`` (default ``~/.cache/rdafnet``), so it is measured once.
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
    choice = best if times["fp32"] / times[best] >= AUTO_MARGIN else "fp32"
    table[entry] = {"choice": choice, "candidates": candidates, **{f"{c}_s": round(t, 5) for c, t in times.items()}}
    try:
        from ._atomic import atomic_write
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(table, indent=1)))
    except OSError:                 # a read-only home: measure again next time
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
