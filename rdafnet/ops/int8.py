"""``optimize(model, precision="int8")``: which convolutions become int8, their calibration, the error check.

Which layers: every RDAFB's 3x3 convolutions (70% of the single-stage network's multiply-adds) and each
stage's 5x5 skip fusion. The others stay in float: quantizing a layer's input costs a pass over the map,
longer than int8 saves on the 1x1 convolutions (attention, fusion, DSC), the stride-2 down one and the
7x7 head and tail; the depthwise ones do too few multiplications to gain (docs/performance.md, "int8",
has the per-layer measurements).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack

import numpy as np
import torch
from PIL import Image
from torch import nn

from rdafnet.io.image import SAMPLE_IMAGE, to_float
from rdafnet.layers import RDAFB
from rdafnet.layers.quant import Int8Conv2d, RangeObserver, int8_supported
from rdafnet.models.networks import EncoderDecoder, RDAFNetBase
from rdafnet.utils.tensor import centre_crop, image_to_batch

INT8 = "int8"
#: ``precision="auto"`` takes int8 only if, on the calibration frames, its output is at least this many dB
#: (PSNR) from the fp32 output ...
MIN_PSNR_DB = 40.0
#: ... and its correction (output minus input) keeps this signal-to-noise ratio against fp32's.
MIN_CORRECTION_SNR_DB = 20.0
#: The default calibration frame: the centre of the bundled sample, this size.
DEFAULT_CROP = (256, 256)


def int8_layers(model: nn.Module) -> list[str]:
    """Names of the convolutions of ``model`` that ``precision="int8"`` computes in int8."""
    names = []
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, RDAFB):
            names += [f"{prefix}convs.{i}" for i in range(len(module.convs))]
        elif isinstance(module, EncoderDecoder):
            names.append(f"{prefix}fuse")
    return names


def check_int8(model: nn.Module) -> None:
    """Refuse int8 where it cannot run: on a GPU, on a CPU without VNNI/AMX, or for a model without RDAFBs."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(
            f"precision='int8' runs on the CPU only (this model is on {device}); on a GPU use precision='bf16' "
            "(or 'auto')"
        )
    if not int8_supported():
        raise ValueError(
            "precision='int8' needs a CPU with AVX512-VNNI, AVX-VNNI or AMX (int8 is emulated, and slower than "
            "fp32, elsewhere) and a torch build with oneDNN; use precision='auto' on this machine"
        )
    if not int8_layers(model):
        raise ValueError("precision='int8' quantizes RDAFB convolutions, and this model has no RDAFB")


def default_calibration() -> torch.Tensor:
    """The default calibration frame: a centre crop of the bundled sample, (1, 3, 256, 256) in [0, 1]."""
    with Image.open(SAMPLE_IMAGE) as im:  # our own file: not subject to the caller's pixel limit (--max-pixels)
        sample = np.asarray(im.convert("RGB"))
    return centre_crop(image_to_batch(to_float(sample)), *DEFAULT_CROP)


def calibration_batches(model: nn.Module, calibration: torch.Tensor | Sequence[torch.Tensor] | None) -> list:
    """``calibration`` as a list of input batches (the bundled sample's centre if ``None``)."""
    if calibration is None:
        if not isinstance(model, RDAFNetBase):
            raise ValueError("precision='int8' on your own model needs calibration=<inputs your model takes>")
        return [default_calibration()]
    batches = [calibration] if isinstance(calibration, torch.Tensor) else list(calibration)
    if not batches or not all(isinstance(b, torch.Tensor) for b in batches):
        raise TypeError("calibration takes a tensor or a list of tensors, each an input batch of the model")
    return batches


@torch.no_grad()
def calibrate(model: nn.Module, batches: list[torch.Tensor]) -> dict[str, tuple[float, float]]:
    """The input range (min, max) of each of :func:`int8_layers`, over ``model(b)`` for every batch, in fp32."""
    names = int8_layers(model)
    observers = {n: RangeObserver() for n in names}
    was_training = model.training
    model.eval()
    try:
        with ExitStack() as stack:
            for n in names:
                stack.enter_context(model.get_submodule(n).register_forward_pre_hook(observers[n]))
            for b in batches:
                model(b.to(next(model.parameters()).device, torch.float32))
    finally:
        model.train(was_training)
    missing = [n for n, o in observers.items() if not o.seen]
    if missing:
        raise ValueError(f"the calibration inputs never reached {missing[:3]}...: pass inputs of the model")
    return {n: (o.low, o.high) for n, o in observers.items()}


def quantize_convs(fast: nn.Module, model: nn.Module, ranges: dict[str, tuple[float, float]]) -> None:
    """Replace each calibrated convolution of ``fast`` (an optimized copy of ``model``) by an
    :class:`Int8Conv2d` made from ``model``'s fp32 weights."""
    for name, (low, high) in ranges.items():
        parent, _, leaf = name.rpartition(".")
        conv = model.get_submodule(name)
        assert isinstance(conv, nn.Conv2d), name  # int8_layers names convolutions only
        setattr(fast.get_submodule(parent), leaf, Int8Conv2d(conv, low=low, high=high))


@torch.no_grad()
def int8_error(reference: nn.Module, fast: nn.Module, batches: list[torch.Tensor]) -> dict[str, float]:
    """How far ``fast``'s outputs are from ``reference``'s (fp32) on ``batches``: PSNR (dB, peak 1) and the
    correction's SNR (dB): ``||r - x||^2 / ||f - r||^2`` with ``r``, ``f`` the outputs and ``x`` the input,
    each pooled over all batches."""
    err = correction = 0.0
    count = 0
    for b in batches:
        r, f = reference(b).double(), fast(b).double()
        err += float((f - r).square().sum())
        correction += float((r - b.double()).square().sum())
        count += r.numel()
    mse = err / max(count, 1)
    return {
        "psnr_db": math.inf if mse == 0 else 10 * math.log10(1 / mse),
        "correction_snr_db": math.inf if err == 0 else 10 * math.log10(correction / err),
    }


def meets_bound(error: dict[str, float]) -> bool:
    return error["psnr_db"] >= MIN_PSNR_DB and error["correction_snr_db"] >= MIN_CORRECTION_SNR_DB
