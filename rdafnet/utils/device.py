"""Devices: which one to run on, the precisions the library runs, and where reduced precision is native."""

from __future__ import annotations

import functools
import warnings

import torch

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
        warnings.warn(
            f"{name} is emulated on this {torch.device(device).type} (no native {name} "
            f"instructions), so it is slower than fp32 here (docs/performance.md has the figures); "
            f"use precision='fp32' (or 'auto', the CLI's default, which picks fp32 here) on this machine",
            RuntimeWarning,
            stacklevel=2,
        )


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA where there is a GPU, else the CPU; otherwise the device named, which
    must exist here (a ``ValueError`` that says what to pass)."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{device!r} is not a device: use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for but no CUDA device is available; use 'cpu' or 'auto'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 ...)")
    return device
