"""When reduced precision pays off."""
from __future__ import annotations

import torch


def bf16_native(device: torch.device | str) -> bool:
    """Whether bf16 arithmetic is native on ``device``: any CUDA GPU, or a CPU with AVX512-BF16
    (and AMX), where oneDNN runs bf16 convolutions about 2x faster than fp32. Elsewhere bf16 is
    emulated and slower, so callers keep fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(native and native())
