"""Winograd convolutions (NNPACK) on the CPU: error against float64, the optimize path, the fallback
where NNPACK is missing, and their place among the candidates of precision="auto"."""
import importlib

import pytest
import torch
import torch.nn.functional as F

import rdafnet
from rdafnet.layers import FusedRDAFB, fastconv
from rdafnet.precision import auto_precision

opt = importlib.import_module("rdafnet.ops.optimize")      # the module (rdafnet.ops.optimize is the function)

needs_nnpack = pytest.mark.skipif(not fastconv.winograd_available(), reason="this torch has no working NNPACK")


@needs_nnpack
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_winograd_conv_matches_float64(layout):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 50, 70, generator=g).contiguous(memory_format=layout)
    w, b = torch.randn(64, 64, 3, 3, generator=g) * 0.05, torch.randn(64, generator=g)
    exact = F.conv2d(x.double(), w.double(), b.double())
    got = fastconv.conv2d(x, w, b, winograd=True)
    assert got.dtype == torch.float32 and got.shape == exact.shape
    assert ((got.double() - exact).abs().max() / exact.abs().max()).item() < 1e-5
    assert torch.equal(fastconv.conv2d(x, w, b), F.conv2d(x, w, b))        # winograd=False: oneDNN itself


@needs_nnpack
@pytest.mark.parametrize("variant", ["tiny", "single-stage-n8"])
def test_optimize_winograd_is_the_network_to_float32_rounding(variant):
    torch.manual_seed(0)
    model = rdafnet.build(variant).eval()
    x = torch.rand(1, 3, 36, 52, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        direct = rdafnet.optimize(model)(x)
        fast = rdafnet.optimize(model, conv="winograd")
        got = fast(x)
    assert all(b.winograd for b in fast.modules() if isinstance(b, FusedRDAFB))
    k3 = [p for p in fast.parameters() if p.dim() == 4 and p.shape[-1] == 3 and p.shape[1] > 1]
    assert k3 and all(p.is_contiguous() for p in k3)              # NCHW, as NNPACK reads it
    assert (got - direct).abs().max().item() < 1e-4


def test_without_nnpack_winograd_falls_back_to_direct(monkeypatch):
    monkeypatch.setattr(fastconv, "winograd_available", lambda: False)
    monkeypatch.setattr(opt, "winograd_available", lambda: False)
    torch.manual_seed(0)
    model = rdafnet.build("tiny").eval()
    x = torch.rand(1, 3, 20, 24)
    with pytest.warns(RuntimeWarning, match="NNPACK is not available"):
        fast = rdafnet.optimize(model, conv="winograd")
    with torch.no_grad():
        assert torch.equal(fast(x), rdafnet.optimize(model)(x))
    # a block told to use Winograd where it does not apply computes the direct convolution
    block = rdafnet.RDAFB(8).eval()
    fused = block.fuse()
    fused.winograd = True
    h = torch.rand(1, 8, 10, 12)
    with torch.no_grad():
        assert torch.equal(fused(h), block.fuse()(h))


def test_bad_conv_arguments_are_refused():
    model = rdafnet.build("tiny")
    with pytest.raises(ValueError, match="conv must be one of"):
        rdafnet.optimize(model, conv="fft")
    with pytest.raises(ValueError, match="conv='winograd' runs fp32 convolutions"):
        rdafnet.optimize(model, precision="bf16", conv="winograd")


def test_auto_weighs_winograd_against_fp32_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path))
    seen = []

    def measure(times):
        def run(path):
            seen.append(path)
            return times.get(path, 9.0)
        return run
    extra = ("fp32-winograd",)
    assert auto_precision("cpu", key="wino-fast", measure=measure({"fp32": 1.0, "fp32-winograd": 0.5}),
                          extra=extra) == "fp32-winograd"
    assert auto_precision("cpu", key="wino-slow", measure=measure({"fp32": 1.0, "fp32-winograd": 0.95}),
                          extra=extra) == "fp32"
    seen.clear()
    assert auto_precision("cpu", key="wino-fast", measure=measure({}), extra=extra) == "fp32-winograd"
    assert seen == []                                           # cached
    # an entry measured without the Winograd candidate is measured again
    assert auto_precision("cpu", key="plain", measure=measure({"fp32": 1.0, "bf16": 5.0})) == "fp32"
    seen.clear()
    assert auto_precision("cpu", key="plain", measure=measure({"fp32": 1.0, "fp32-winograd": 0.4}),
                          extra=extra) == "fp32-winograd"
    assert "fp32-winograd" in seen


def test_auto_path_builds_what_was_chosen(monkeypatch):
    model = rdafnet.build("tiny").eval()
    monkeypatch.setattr(opt, "auto_precision", lambda *a, **k: "fp32-winograd")
    assert rdafnet.ops.fastest(model) == {"precision": "fp32", "conv": "winograd"}
    fast = rdafnet.optimize(model, precision="auto")
    assert all(b.winograd == fastconv.winograd_available() for b in fast.modules() if isinstance(b, FusedRDAFB))
    monkeypatch.setattr(opt, "auto_precision", lambda *a, **k: "bf16")
    assert rdafnet.ops.fastest(model) == {"precision": "bf16", "conv": "direct"}
    assert rdafnet.ops.fastest(torch.nn.Sequential(rdafnet.RDAFB(8))) == {"precision": "fp32", "conv": "direct"}
