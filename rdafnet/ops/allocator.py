"""Large CPU tensors without page faults: keep freed memory in the process (glibc malloc).

glibc serves every allocation over 32 MB with a fresh ``mmap`` and returns it to the kernel when
freed. A 720p frame's feature maps are 59-118 MB, so each convolution output costs tens of thousands
of page faults, and the kernel zeroes every page again: about 11 million faults per frame for the
single-stage network, 15-20% of its time (docs/performance.md). :func:`keep_freed_memory` makes
malloc serve large blocks from its own heap and keep them for reuse; the process then holds on to
its peak memory instead of handing it back between frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_APPLIED: list[bool] = []


def keep_freed_memory() -> bool:
    """Make this process's malloc keep large freed blocks for reuse (glibc on Linux; elsewhere it
    does nothing). Returns whether it took effect. ``rdafnet deblur`` and ``rdafnet eval`` call it;
    call it yourself before running frames of 720p and larger through an optimized model in a loop."""
    if _APPLIED:
        return _APPLIED[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    _APPLIED.append(ok)
    return ok
