"""int8 convolutions for CPUs with VNNI or AMX (``rdafnet.optimize(model, precision="int8")``).

:class:`Int8Conv2d` computes a :class:`torch.nn.Conv2d` with oneDNN's int8 kernels: weights rounded to
int8 with one symmetric scale per output channel, the input to uint8 with one scale and zero point
calibrated on real frames (:class:`RangeObserver`), products accumulated in int32 and the output
written in the input's float dtype (fp32 or bf16) with the bias added. Everything else in a network
stays in float; docs/performance.md ("int8") has the per-layer measurements behind that choice.
"""

from __future__ import annotations

import functools
import threading
import warnings

import torch
import torch.nn.functional as F
from torch import nn

#: Input shapes whose packed weights a layer keeps (about 0.5 ms to pack one again, 150 KB each at most).
_PACKED_SHAPES = 4
#: The int8 range of the weights: +-127 (not -128), so that a weight and its negation round alike.
_QMAX = 127


@functools.cache
def int8_supported() -> bool:
    """Whether this CPU runs int8 convolutions natively (AVX512-VNNI, AVX-VNNI or AMX-INT8) and this torch
    build has oneDNN's int8 convolution."""
    native = getattr(torch.cpu, "_is_vnni_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    has_op = hasattr(torch.ops.onednn, "qconv_pointwise") and hasattr(torch.ops.onednn, "qconv_prepack")
    return bool(has_op and torch.backends.mkldnn.is_available() and ((native and native()) or (amx and amx())))


def _check_native() -> None:
    if not int8_supported():
        raise RuntimeError(
            "int8 convolutions need a CPU with AVX512-VNNI, AVX-VNNI or AMX (without them oneDNN's int8 products "
            "can saturate, and run slower than fp32): use the float layer on this machine"
        )


class RangeObserver:
    """The range of every value a layer's input took over the calibration frames (min and max)."""

    def __init__(self) -> None:
        self.low, self.high = float("inf"), float("-inf")

    def __call__(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        low, high = torch.aminmax(inputs[0].detach())
        self.low, self.high = min(self.low, float(low)), max(self.high, float(high))

    @property
    def seen(self) -> bool:
        return self.low <= self.high


def uint8_params(low: float, high: float) -> tuple[float, int]:
    """Scale and zero point that map ``[low, high]`` (widened to hold 0, so that zero padding is exact)
    onto 0..255."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-8) / 255
    return scale, int(min(255, max(0, round(-low / scale))))


def quantize_uint8(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """``clamp(round(x / scale) + zero_point, 0, 255)`` as a uint8 tensor of ``x``'s layout, in one pass
    over ``x`` (fp32; bf16 is widened first) by torch's quantizer where it has one."""
    try:
        with warnings.catch_warnings():  # quantized dtypes are deprecated, not yet replaced by a fused op
            warnings.simplefilter("ignore", UserWarning)
            q = torch.quantize_per_tensor(x.float(), scale, zero_point, torch.quint8)
    except (AttributeError, RuntimeError, NotImplementedError):  # a torch without quantized dtypes
        return quantize_uint8_reference(x, scale, zero_point)
    # the quantized tensor's bytes, viewed as plain uint8 without a copy (what oneDNN's kernel reads)
    return torch.empty(0, dtype=torch.uint8).set_(q.untyped_storage(), q.storage_offset(), q.size(), q.stride())


def quantize_uint8_reference(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """:func:`quantize_uint8` in plain tensor arithmetic (several passes; ``x / scale + zero_point`` rounded
    half to even, as torch's quantizer does)."""
    return torch.round(x.float() / scale + zero_point).clamp_(0, 255).to(torch.uint8)


class Int8Conv2d(nn.Module):
    """``conv`` (groups 1, any padding mode) with int8 weights and uint8 input: ``y = conv(x)`` up to the
    rounding of the weights to int8 per output channel and of ``x`` to 256 levels over ``[low, high]``
    (the input range seen in calibration; values outside are clipped to it). CPUs with VNNI or AMX only,
    inference only."""

    def __init__(self, conv: nn.Conv2d, *, low: float, high: float) -> None:
        super().__init__()
        _check_native()
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or isinstance(conv.padding, str):
            raise ValueError(f"Int8Conv2d takes an nn.Conv2d with groups=1 and numeric padding, got {conv}")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.dilation = conv.kernel_size, conv.stride, conv.dilation
        self.low, self.high = low, high
        self.scale, self.zero_point = uint8_params(low, high)
        w = conv.weight.detach().float()
        w_scale = w.abs().amax(dim=(1, 2, 3)).clamp_min(1e-12) / _QMAX
        # plain attributes, not buffers: .to(bf16) on the model must not round the scales
        self.w_scale = w_scale.contiguous()
        self.qweight = torch.round(w / w_scale[:, None, None, None]).clamp_(-_QMAX, _QMAX).to(torch.int8)
        self.bias = None if conv.bias is None else conv.bias.detach().float().contiguous()
        self.w_zero = torch.zeros(self.out_channels, dtype=torch.long)
        ph, pw = conv.padding
        # reflect/replicate/circular borders are made in float before quantizing; zeros by the kernel
        self.border = None if conv.padding_mode == "zeros" else (conv.padding_mode, (pw, pw, ph, ph))
        self.padding = (ph, pw) if self.border is None else (0, 0)
        self._packed: dict[tuple, torch.Tensor] = {}
        self._lock = threading.Lock()

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"input range [{self.low:.4g}, {self.high:.4g}]"
        )

    def dequantized_weight(self) -> torch.Tensor:
        """The weights this layer computes with, in fp32."""
        return self.qweight.float() * self.w_scale[:, None, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.border is not None:
            mode, pad = self.border
            x = F.pad(x, pad, mode=mode)
        return self.forward_padded(x)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x`` whose non-zero border is already in place (as ``forward`` makes it)."""
        if x.device.type != "cpu":
            raise RuntimeError(
                "int8 convolutions run on the CPU only: on a GPU use rdafnet.optimize(model, precision='bf16')"
            )
        out = x.dtype if x.dtype in (torch.float32, torch.bfloat16) else torch.float32
        return self.forward_quantized(quantize_uint8(x, self.scale, self.zero_point), out)

    def forward_quantized(self, q: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The convolution of an input already quantized with this layer's scale and zero point
        (:func:`quantize_uint8`), written in ``dtype`` (fp32 or bf16)."""
        return torch.ops.onednn.qconv_pointwise(
            q, self.scale, self.zero_point, self._weights(q), self.w_scale, self.w_zero, self.bias,
            list(self.stride), list(self.padding), list(self.dilation), 1, 1.0, 0, dtype, "none", [], "",
        )  # fmt: skip

    def _weights(self, q: torch.Tensor) -> torch.Tensor:
        """The weights in oneDNN's blocked layout for this input shape (packed once per shape, the last few kept)."""
        key = (tuple(q.shape), q.is_contiguous(memory_format=torch.channels_last))
        with self._lock:
            packed = self._packed.get(key)
            if packed is None:
                _check_native()
                if len(self._packed) >= _PACKED_SHAPES:  # the oldest shape goes (tiles come in a few shapes)
                    self._packed.pop(next(iter(self._packed)))
                packed = self._packed[key] = torch.ops.onednn.qconv_prepack(
                    self.qweight, self.w_scale, self.scale, self.zero_point, list(self.stride),
                    list(self.padding), list(self.dilation), 1, list(q.shape),
                )  # fmt: skip
        return packed

    def __getstate__(self) -> dict:
        """Packed weights are a cache (oneDNN's opaque tensors): a copied or pickled layer packs again on use."""
        state = self.__dict__.copy()
        state["_packed"], state["_lock"] = {}, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
