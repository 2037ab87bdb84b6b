"""Winograd convolutions (NNPACK) on the CPU: error against float64, the optimize path, the fallback
where NNPACK is missing, and their place among the candidates of precision="auto"."""

import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rdafnet
from rdafnet.layers import FusedRDAFB, fastconv
from rdafnet.ops.auto import auto_precision

opt = importlib.import_module("rdafnet.ops.optimize")  # the module (rdafnet.ops.optimize is the function)

needs_nnpack = pytest.mark.skipif(not fastconv.winograd_available(), reason="this torch has no working NNPACK")


@needs_nnpack
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_winograd_conv_matches_float64(layout):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 50, 70, generator=g).contiguous(memory_format=layout)
    w, b = torch.randn(64, 64, 3, 3, generator=g) * 0.05, torch.randn(64, generator=g)
    exact = F.conv2d(x.double(), w.double(), b.double())
    got = fastconv.winograd_conv2d(x, w, b)
    assert got.dtype == torch.float32 and got.shape == exact.shape
    assert ((got.double() - exact).abs().max() / exact.abs().max()).item() < 1e-5
    assert not torch.equal(got, F.conv2d(x, w, b))  # another algorithm
    assert torch.equal(fastconv.conv2d(x, w, b), F.conv2d(x, w, b))  # winograd=False: oneDNN itself


@needs_nnpack
@pytest.mark.parametrize("k", [5, 7])
def test_winograd_larger_kernels_with_padding_match_float64(k):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 40, 52, generator=g)
    w = torch.randn(8, 16, k, k, generator=g) * 0.05
    exact = F.conv2d(x.double(), w.double(), padding=k // 2)
    got = fastconv.winograd_conv2d(x, w, None, k // 2)
    assert got.shape == exact.shape
    assert ((got.double() - exact).abs().max() / exact.abs().max()).item() < 1e-5


@needs_nnpack
def test_each_layer_shape_is_timed_once_and_the_faster_algorithm_kept(monkeypatch):
    monkeypatch.setattr(fastconv, "_FASTER", {})
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(1, 8, 30, 400, generator=g), torch.randn(8, 8, 3, 3, generator=g)
    fastconv.conv2d(x, w, padding=1, winograd=True)
    ((key, first),) = fastconv._FASTER.items()
    assert key[0] == (1, 8, 30, fastconv.PROBE) and isinstance(first, bool)  # timed on a crop
    calls = []
    monkeypatch.setattr(
        fastconv, "winograd_conv2d", lambda *a: calls.append(a) or F.conv2d(a[0], a[1], a[2], padding=a[3])
    )
    fastconv._FASTER[key] = False  # a decision is kept: oneDNN where it was faster ...
    assert torch.equal(fastconv.conv2d(x, w, padding=1, winograd=True), F.conv2d(x, w, padding=1))
    assert calls == []
    fastconv._FASTER[key] = True  # ... NNPACK where it was, for every input of that crop shape
    fastconv.conv2d(torch.randn(1, 8, 30, 500), w, padding=1, winograd=True)
    assert len(calls) == 1 and len(fastconv._FASTER) == 1


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
    assert k3 and all(p.is_contiguous() for p in k3)  # NCHW, as NNPACK reads it
    assert (got - direct).abs().max().item() < 1e-4


@needs_nnpack
def test_optimize_winograd_takes_the_stride_one_convolutions_around_the_blocks():
    torch.manual_seed(0)
    model = rdafnet.build("single-stage", width=8, num_blocks=2).eval()
    fast = rdafnet.optimize(model, conv="winograd")
    kinds = {name: type(m).__name__ for name, m in fast.named_modules()}
    assert kinds["body.head"] == kinds["body.fuse"] == kinds["tail"] == "WinogradConv2d"
    assert kinds["body.down"] == "Conv2d"  # stride 2: oneDNN
    assert fast.state_dict().keys() == rdafnet.optimize(model).state_dict().keys()
    # in a user's own model too, next to its RDAFBs
    own = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), rdafnet.RDAFB(8), torch.nn.Conv2d(8, 3, 1)).eval()
    fast_own = rdafnet.optimize(own, conv="winograd")
    assert [type(m).__name__ for m in fast_own] == ["WinogradConv2d", "FusedRDAFB", "Conv2d"]
    x = torch.rand(1, 3, 24, 30)
    with torch.no_grad():
        assert (fast_own(x) - own(x)).abs().max().item() < 1e-4


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
        def run(path, side):
            seen.append(path)
            return times.get(path, 9.0)

        return run

    extra = ("fp32-winograd",)
    assert (
        auto_precision("cpu", key="wino-fast", measure=measure({"fp32": 1.0, "fp32-winograd": 0.5}), extra=extra)
        == "fp32-winograd"
    )
    assert (
        auto_precision("cpu", key="wino-slow", measure=measure({"fp32": 1.0, "fp32-winograd": 0.97}), extra=extra)
        == "fp32"
    )
    seen.clear()
    assert auto_precision("cpu", key="wino-fast", measure=measure({}), extra=extra) == "fp32-winograd"
    assert seen == []  # cached
    # an entry measured without the Winograd candidate is measured again
    assert auto_precision("cpu", key="plain", measure=measure({"fp32": 1.0, "bf16": 5.0})) == "fp32"
    seen.clear()
    assert (
        auto_precision("cpu", key="plain", measure=measure({"fp32": 1.0, "fp32-winograd": 0.4}), extra=extra)
        == "fp32-winograd"
    )
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


def test_auto_decides_at_the_size_it_will_run_and_records_where_it_measured(tmp_path, monkeypatch):
    """A cost stub where Winograd's fixed cost is higher and its cost per pixel lower (what NNPACK does): fp32 on
    small inputs, Winograd on 720p frames, each decided on a measurement at (or, for large frames, near) the
    size that runs, and the record says where it measured."""
    import json

    from rdafnet.ops import auto

    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path))
    monkeypatch.setattr(auto, "native_precision", lambda *_: False)
    cost = {"fp32": (0.01, 1.0e-6), "fp32-winograd": (0.05, 0.6e-6)}  # seconds: a + b * pixels
    timed = []

    def measure(path, at):
        timed.append((path, at))
        a, b = cost[path]
        return a + b * at[0] * at[1]

    def pick(size):
        return auto_precision("cpu", key="by-size", measure=measure, extra=("fp32-winograd",), size=size)

    assert pick((128, 128)) == "fp32"  # 0.026 s against 0.060 s
    assert pick((720, 1280)) == "fp32-winograd"  # measured at 360x640: 0.24 s against 0.19 s, 1.28x
    assert pick((256, 256)) == "fp32"  # 0.076 against 0.089
    assert pick((1080, 1920)) == "fp32-winograd"  # the same measurement as 720p
    assert auto.measure_size((720, 1280)) == auto.measure_size((1080, 1920)) == (360, 640)
    sizes = ((128, 128), (360, 640), (256, 256))
    assert timed == [(p, at) for at in sizes for _ in range(auto.ROUNDS) for p in cost]  # in turn, once per size
    (record,) = json.loads((tmp_path / "auto_precision.json").read_text()).values()
    assert sorted(record["seconds"]) == ["128x128", "256x256", "360x640"]  # where it measured, and what
    assert record["seconds"]["360x640"]["fp32-winograd"] == pytest.approx(0.05 + 0.6e-6 * 360 * 640)
    assert record["choices"] == {
        "128x128": "fp32",
        "720x1280": "fp32-winograd",
        "256x256": "fp32",
        "1080x1920": "fp32-winograd",
    }


def test_an_exact_path_needs_a_smaller_margin_than_an_inexact_one(tmp_path, monkeypatch):
    from rdafnet.ops import auto

    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path))
    monkeypatch.setattr(auto, "native_precision", lambda *_: True)

    def pick(key, times, extra=("fp32-winograd",)):
        return auto_precision("cpu", key=key, measure=lambda p, at: times[p], extra=extra)

    # 1.09x faster than fp32: enough for Winograd (float32 rounding apart, exact), not for bf16
    assert pick("w", {"fp32": 1.0, "bf16": 2.0, "fp32-winograd": 0.92}) == "fp32-winograd"
    assert pick("b", {"fp32": 1.0, "bf16": 0.92, "fp32-winograd": 2.0}) == "fp32"
    assert pick("wb", {"fp32": 1.0, "bf16": 0.92, "fp32-winograd": 0.95}) == "fp32-winograd"
    assert pick("bb", {"fp32": 1.0, "bf16": 0.5, "fp32-winograd": 0.9}) == "bf16"
    assert auto.EXACT_MARGIN < auto.AUTO_MARGIN


def test_the_cli_decides_at_its_inputs_size_or_its_tile(tmp_path, monkeypatch):
    from rdafnet.cli import deblur as cli_deblur

    seen = []
    monkeypatch.setattr(opt, "auto_precision", lambda *a, size, **k: seen.append(size) or "fp32")
    monkeypatch.setattr(rdafnet.ops, "fastest", opt.fastest)
    src = tmp_path / "in"
    from rdafnet.io.image import write_image

    write_image(src / "a.png", np.zeros((40, 64, 3), np.uint8))
    write_image(src / "b.png", np.zeros((48, 80, 3), np.uint8))
    assert rdafnet.cli.main(["deblur", str(src), "-o", str(tmp_path / "o1")]) == 0
    assert rdafnet.cli.main(["deblur", str(src), "-o", str(tmp_path / "o2"), "--tile", "32"]) == 0
    assert seen == [(48, 80), (32, 32)]  # the largest input; the tile
    assert cli_deblur._run_size(type("A", (), {"tile": None})(), [None]) == (720, 1280)


@pytest.mark.parametrize(
    "damage",
    [
        {"seconds": {"64x64": {"fp32": "fast", "fp32-winograd": 0.5}}},
        {"seconds": {"64x64": {"fp32": 0.1}}},
        {"choices": [1]},
        [],
    ],
    ids=["text", "short", "choices", "not-a-record"],
)
def test_a_damaged_auto_record_is_measured_again(tmp_path, monkeypatch, damage):
    import json

    from rdafnet.ops import auto

    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path))
    monkeypatch.setattr(auto, "native_precision", lambda *_: False)

    def pick(measure):
        return auto_precision("cpu", key="damaged", measure=measure, extra=("fp32-winograd",), size=(64, 64))

    assert pick(lambda p, s: 1.0 if p == "fp32" else 0.5) == "fp32-winograd"
    path = tmp_path / "auto_precision.json"
    table = json.loads(path.read_text())
    (entry,) = table
    table[entry] = {**table[entry], **damage} if isinstance(damage, dict) else damage
    path.write_text(json.dumps(table))
    timed = []
    assert pick(lambda p, s: timed.append(p) or (1.0 if p == "fp32" else 0.5)) == "fp32-winograd"
    assert timed or damage == {"choices": [1]}  # measured again (a bad choices list alone is just replaced)
    kept = json.loads(path.read_text())[entry]
    assert kept["choices"] == {"64x64": "fp32-winograd"}
    assert kept["seconds"] == {"64x64": {"fp32": 1.0, "fp32-winograd": 0.5}}  # what was measured again is kept
    assert pick(lambda p, s: pytest.fail("measured a third time")) == "fp32-winograd"
