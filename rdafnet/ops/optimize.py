"""``optimize()``: a copy of a model with every fusable block replaced by its inference form."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from rdafnet.layers.fastconv import WinogradConv2d, winograd_available
from rdafnet.layers.fused import Fusable, FusedRDAFB, Workspace
from rdafnet.layers.quant import int8_supported
from rdafnet.models.networks import RDAFNetBase
from rdafnet.ops.auto import AUTO, DEFAULT_SIZE, WINOGRAD, auto_precision
from rdafnet.ops.int8 import INT8, calibrate, calibration_batches, check_int8, int8_error, meets_bound, quantize_convs
from rdafnet.utils.device import PRECISIONS, bf16_native

#: ``optimize(conv=...)``: oneDNN's direct convolutions, or NNPACK's Winograd kernels for the blocks' 3x3 ones.
CONVS = ("direct", "winograd")


def optimize(
    model: nn.Module,
    *,
    channels_last: bool = True,
    precision: str = "fp32",
    conv: str = "direct",
    calibration: torch.Tensor | Sequence[torch.Tensor] | None = None,
    size: tuple[int, int] | None = None,
) -> nn.Module:
    """A copy of ``model`` for inference in which every :class:`~rdafnet.layers.Fusable` layer (each
    RDAFB) is replaced by its ``fuse()`` form, sharing one scratch workspace; same outputs.

    ``channels_last`` stores weights (and so activations) channels-last, where oneDNN's
    convolutions run without layout reorders (faster 1x1 convolutions on CPU). Works for every
    network and for user models that contain RDAFBs. The copy is in eval mode, without autograd.

    ``precision="bf16"`` (or ``"fp16"``, for GPUs) runs an RDAFNet network under autocast:
    convolutions and stored activations in reduced precision, instance-norm statistics and the
    global residual in fp32, outputs in the input's dtype. Not exact: see docs/performance.md for
    the measured PSNR against the fp32 path. bf16 pays off on GPUs and on CPUs with native bf16
    (``rdafnet.ops.bf16_native``); elsewhere it is emulated and slower.

    ``conv="winograd"`` (fp32, CPU) computes the stride-1 convolutions of 3x3 and larger kernels (the
    blocks' 3x3 ones, the 5x5 and 7x7 ones around them) with NNPACK's fast-algorithm kernels, in NCHW
    (``channels_last`` is then ignored), each layer shape only where it was timed faster than the direct
    convolution on first use: float32 rounding apart (about 1e-5 relative per convolution;
    docs/performance.md gives the end-to-end figures) the same function. Where NNPACK is missing it warns
    and keeps the direct convolutions.

    ``precision="int8"`` (CPUs with VNNI or AMX) computes the blocks' 3x3 convolutions and each stage's
    skip-fusion convolution with int8 weights (one scale per output channel) and uint8 inputs
    (one range per layer, calibrated by running ``calibration`` through the fp32 network: a batch or a list
    of batches in [0, 1]; default, the centre of the bundled sample); the rest of the network runs as
    ``precision="bf16"`` where bf16 is native, else fp32. Not exact: docs/performance.md gives the error on
    real frames; :func:`rdafnet.ops.int8.int8_error` measures it on yours.

    ``precision="auto"`` picks the fastest path for this network on the device its weights are on
    (:func:`fastest`), for inputs of ``size`` (H, W; default 720x1280; with tiled inference, the tile):
    precision and convolution algorithm, never one measured slower than fp32 direct.
    ``optimize(model)`` alone is the exact fp32 path with direct convolutions.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"optimize takes a torch.nn.Module, got {type(model).__name__}; load one with "
            "rdafnet.from_pretrained(...) or rdafnet.build(...)"
        )
    if any(isinstance(m, FusedRDAFB) for m in model.modules()):
        raise ValueError(
            "this model is already optimized (its blocks are fused): pass the original model to "
            "rdafnet.optimize, with the precision and conv you want"
        )
    if precision == AUTO:
        choice = fastest(model, channels_last=channels_last, calibration=calibration, size=size or DEFAULT_SIZE)
        precision, conv = choice["precision"], choice["conv"]
    if precision == INT8:
        return _optimize_int8(model, channels_last=channels_last, conv=conv, calibration=calibration)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {[AUTO, *PRECISIONS, INT8]}, got {precision!r}")
    if conv not in CONVS:
        raise ValueError(f"conv must be one of {list(CONVS)}, got {conv!r}")
    dtype = PRECISIONS[precision]
    if conv == "winograd":
        if dtype is not None:
            raise ValueError(
                f"conv='winograd' runs fp32 convolutions (NNPACK); with precision={precision!r} use conv='direct'"
            )
        if winograd_available():
            channels_last = False  # NNPACK reads NCHW: a channels-last map would be reordered every time
        else:
            warnings.warn(
                "NNPACK is not available in this torch build: conv='winograd' falls back to direct convolutions",
                RuntimeWarning,
                stacklevel=2,
            )
            conv = "direct"
    fast = copy.deepcopy(model).eval()
    if dtype is not None:
        if not isinstance(fast, RDAFNetBase):
            raise ValueError(
                f"precision={precision!r} needs an RDAFNet network; for your own model use "
                "optimize(model) and run it under torch.autocast"
            )
        fast.autocast_dtype = dtype
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
    workspace = Workspace()
    for module in list(fast.modules()):
        if isinstance(module, Fusable):  # replaced by its fused form as its parent is visited
            continue
        for name, child in list(module.named_children()):
            if isinstance(child, Fusable):
                fused = child.fuse(workspace=workspace)
                if isinstance(fused, FusedRDAFB):
                    fused.winograd = conv == "winograd"
                setattr(module, name, fused)
            elif conv == "winograd" and WinogradConv2d.replaces(child):
                setattr(module, name, WinogradConv2d.from_conv(child))
    if dtype is not None:
        fast = fast.to(dtype)  # weights stored in bf16/fp16, so autocast casts only the input
    return fast.requires_grad_(False)


def _optimize_int8(
    model: nn.Module, *, channels_last: bool, conv: str, calibration: torch.Tensor | Sequence[torch.Tensor] | None
) -> nn.Module:
    """``optimize(model, precision="int8")``: the float path (bf16 where native), then the int8 layers."""
    check_int8(model)
    if conv != "direct":
        raise ValueError("precision='int8' runs oneDNN's int8 convolutions: use conv='direct'")
    ranges = calibrate(model, calibration_batches(model, calibration))
    native = isinstance(model, RDAFNetBase) and bf16_native("cpu")
    fast = optimize(model, channels_last=channels_last, precision="bf16" if native else "fp32")
    quantize_convs(fast, model, ranges)
    return fast


def fastest(
    model: nn.Module,
    *,
    channels_last: bool = True,
    calibration: torch.Tensor | Sequence[torch.Tensor] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> dict[str, str]:
    """What ``precision="auto"`` resolves to for ``model`` on its device and inputs of ``size`` (H, W; the
    tile's where inference is tiled), timed at that size (a quarter of a 720p frame for larger ones), as
    ``optimize`` keywords
    (``{"precision": ..., "conv": ...}``): fp32 with direct convolutions unless another path is measured
    faster (:func:`rdafnet.ops.auto.auto_precision`): bf16 where it is native, Winograd where NNPACK is
    built in (CPUs), and int8 on CPUs with VNNI or AMX, but only if its output on the calibration frames is
    within :data:`~rdafnet.ops.int8.MIN_PSNR_DB` and :data:`~rdafnet.ops.int8.MIN_CORRECTION_SNR_DB` of
    fp32's. Only RDAFNet networks are measured."""
    if not isinstance(model, RDAFNetBase):
        return {"precision": "fp32", "conv": "direct"}
    device = next(model.parameters()).device
    arch = {k: v for k, v in model.config.items() if k != "rdafnet_version"}
    int8 = device.type == "cpu" and int8_supported()
    if int8:  # whether int8 is close enough depends on the weights and the calibration frames too
        batches = calibration_batches(model, calibration)
        arch["int8"] = _digest([*model.state_dict().values(), *batches])
    key = json.dumps(arch, sort_keys=True)

    built: dict[str, nn.Module | None] = {}

    @torch.no_grad()
    def measure(path: str, at: tuple[int, int]) -> float:
        if path not in built:
            kw = _keywords(path)
            made = optimize(
                model, channels_last=channels_last, calibration=calibration, precision=kw["precision"], conv=kw["conv"]
            )
            close = path != INT8 or meets_bound(int8_error(optimize(model), made, batches))
            built[path] = made if close else None  # int8 too far from fp32 on these frames: never chosen
            if close:
                made(torch.rand(1, 3, 64, 64).to(device))  # warm-up: oneDNN's kernel cache
        fast = built[path]
        if fast is None:
            return math.inf
        x = torch.rand(1, 3, *at, generator=torch.Generator().manual_seed(0)).to(device)
        t = time.perf_counter()
        fast(x)
        return time.perf_counter() - t

    extra = ((WINOGRAD,) if device.type == "cpu" and winograd_available() else ()) + ((INT8,) if int8 else ())
    return _keywords(auto_precision(device, key=key, measure=measure, extra=extra, size=size))


def _digest(tensors: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _keywords(path: str) -> dict[str, str]:
    return {"precision": "fp32", "conv": "winograd"} if path == WINOGRAD else {"precision": path, "conv": "direct"}


def choose_precision(model: nn.Module, *, channels_last: bool = True) -> str:
    """The precision that ``precision="auto"`` resolves to (:func:`fastest` gives the convolutions too)."""
    return fastest(model, channels_last=channels_last)["precision"]
