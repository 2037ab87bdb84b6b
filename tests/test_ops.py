"""rdafnet.optimize: the same function as the reference path."""

from pathlib import Path

import pytest
import torch

import rdafnet
from rdafnet.ops import FusedRDAFB


def _pair(variant, **kw):
    torch.manual_seed(0)
    model = rdafnet.build(variant, **kw).eval()
    return model, rdafnet.optimize(model)


VARIANTS = [
    ("single-stage", dict(width=12, num_blocks=3)),
    ("multi-stage", dict(width=8, num_blocks=[2, 2, 3])),
    ("single-stage-am-only", dict(width=8, num_blocks=2)),
    ("single-stage-no-attention", dict(width=8, num_blocks=2)),
    ("single-stage-no-residual", dict(width=8, num_blocks=2)),
    ("single-stage", dict(width=8, num_blocks=2, num_convs=2)),
]


@pytest.mark.parametrize("variant,kw", VARIANTS)
@pytest.mark.parametrize("channels_last", [True, False])
def test_optimized_equals_reference_float64(variant, kw, channels_last):
    torch.manual_seed(0)
    model = rdafnet.build(variant, **kw).double().eval()
    fast = rdafnet.optimize(model, channels_last=channels_last)
    assert any(isinstance(m, FusedRDAFB) for m in fast.modules())
    x = torch.rand(2, 3, 34, 46, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(model(x, return_stages=True), fast(x, return_stages=True), strict=True):
            assert (a - b).abs().max() < 1e-9
        y = fast(x[:1])  # the workspace is reused across calls and shapes
        assert (fast(x)[:1] - y).abs().max() < 1e-12


def test_optimized_parity_fixture(reference_dir):
    import numpy as np
    from helpers import recipe_state_dict

    _, hp, sd = rdafnet.convert_official(recipe_state_dict("single-stage"))
    model = rdafnet.build("single-stage", **hp)
    model.load_state_dict(sd)
    fast = rdafnet.optimize(model.double())
    fixture = np.load(reference_dir / "parity_single_stage.npz")
    x = torch.from_numpy(fixture["input"]).double()
    with torch.no_grad():
        out = fast((x + 1) / 2) * 2 - 1
    assert np.abs(out.numpy() - fixture["output"]).max() < 1e-9


def test_optimized_float32_within_reference_rounding():
    # in float32, instance norm amplifies rounding; the optimized path must be no further from the
    # float64 truth than the reference path itself (plus a small absolute slack)
    model, _ = _pair("single-stage", width=16, num_blocks=4)
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        truth = model.double()(x.double())
        ref_err = (model.float()(x) - truth).abs().max().item()
        fast_err = (rdafnet.optimize(model.float())(x) - truth).abs().max().item()
    assert fast_err <= 2 * ref_err + 1e-5


def test_optimized_local_norm_window_and_deblur():
    model, fast = _pair("tiny", width=8, num_blocks=2)
    x = torch.rand(1, 3, 64, 64)
    rdafnet.set_norm_window(model, 32)
    rdafnet.set_norm_window(fast, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
    img = (x[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
    assert rdafnet.deblur(img, fast, tile=32, overlap=16).shape == img.shape


@pytest.mark.parametrize("dtype, size", [(torch.bfloat16, 64), (torch.float16, 256)])
def test_reduced_precision_instance_norm_keeps_fp32_statistics(dtype, size):
    from rdafnet.layers.fused import instance_norm_act_

    torch.manual_seed(0)
    # an offset mean: a bf16 accumulator would stall (256 + 1 == 256 in bf16), and at 256x256
    # (a 512x512 input at half resolution) an fp16 sum (3 * 65536) or fp16 sum of squares overflows
    x = (torch.randn(1, 4, size, size) * 0.5 + 3).to(memory_format=torch.channels_last)
    truth = torch.nn.functional.instance_norm(x.to(dtype).double(), eps=1e-5)
    y = instance_norm_act_(x.to(dtype), eps=1e-5, slope=None, window=None)
    assert y.dtype == dtype
    # input rounding (|x| * 2^-9 in bf16) amplified by 1/std = 2, mean and output rounding: < 0.05
    assert (y.double() - truth).abs().max() < 0.05
    assert y.double().mean(dim=(-2, -1)).abs().max() < 0.01


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_reduced_precision_warns_where_emulated(precision, dtype):
    import warnings

    from rdafnet.utils.device import native_precision

    x = torch.rand(1, 3, 16, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rdafnet.optimize(rdafnet.build("tiny", width=4, num_blocks=1), precision=precision)(x)
        rdafnet.optimize(rdafnet.build("tiny", width=4, num_blocks=1))(x)  # fp32 never warns
    emulated = [w for w in caught if "emulated" in str(w.message)]
    assert len(emulated) == (0 if native_precision("cpu", dtype) else 1)
    assert all("precision='fp32'" in str(w.message) for w in emulated)


def test_optimize_bf16_on_the_bundled_model_and_sample():
    # the bundled model on its real GoPro sample: bf16 stays within 45 dB of the fp32 path
    # (docs/performance.md lists the measured figures on real frames)
    import numpy as np

    from rdafnet.io.image import read_image, to_float

    img = read_image(Path(rdafnet.__file__).parent / "samples" / "gopro_blurry.png")
    x = torch.from_numpy(to_float(img).transpose(2, 0, 1).copy())[None][..., :256, :384]
    model = rdafnet.from_pretrained()
    fast = rdafnet.optimize(model, precision="bf16")
    with torch.no_grad():
        ref = rdafnet.optimize(model)(x)
        out = fast(x)
    assert out.dtype == torch.float32 and out.shape == x.shape
    psnr = 10 * np.log10(1 / float(((out - ref) ** 2).mean()))
    assert 45 < psnr < 200  # < 200: bf16 really ran (not silently fp32)
    # deblur() hands the model fp32 input, so its global residual stays fp32 (not rounded to bf16)
    torch.testing.assert_close(rdafnet.deblur(x, fast), out, rtol=0, atol=0)
    assert rdafnet.deblur(img[:64, :96], fast).shape == (64, 96, 3)


def test_optimize_precision_errors():
    model = rdafnet.build("tiny", width=8, num_blocks=1)
    with pytest.raises(ValueError, match="precision must be one of"):
        rdafnet.optimize(model, precision="int4")
    with pytest.raises(ValueError, match="torch.autocast"):
        rdafnet.optimize(torch.nn.Sequential(rdafnet.RDAFB(8)), precision="bf16")


def test_optimized_model_compiles_without_graph_breaks():
    import torch._dynamo as dynamo

    model, fast = _pair("single-stage", width=8, num_blocks=2)
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        for m in (model, fast):
            dynamo.reset()
            assert dynamo.explain(m)(x).graph_break_count == 0
        torch.testing.assert_close(torch.compile(fast)(x), model(x), rtol=1e-4, atol=1e-5)


def test_auto_precision_never_picks_a_slower_one_and_caches_its_measurement(tmp_path, monkeypatch):
    from rdafnet.ops.auto import ROUNDS, auto_precision
    from rdafnet.utils.device import native_precision

    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path))
    native = native_precision("cpu", torch.bfloat16)
    timed = []

    def measure(times):
        def run(precision, side):
            timed.append(precision)
            return times[precision]

        return run

    assert auto_precision("cpu", key="fast-bf16", measure=measure({"fp32": 1.0, "bf16": 0.5})) == (
        "bf16" if native else "fp32"
    )
    assert auto_precision("cpu", key="slow-bf16", measure=measure({"fp32": 1.0, "bf16": 0.95})) == "fp32"
    assert auto_precision("cpu", key="slower-bf16", measure=measure({"fp32": 1.0, "bf16": 3.0})) == "fp32"
    rounds = ["fp32", "bf16"] * ROUNDS  # in turn; emulated bf16: never measured
    assert timed == rounds * 3 if native else timed == []
    timed.clear()

    def fail(precision, side):
        raise AssertionError("measured again instead of using the cache")

    assert auto_precision("cpu", key="fast-bf16", measure=fail) == ("bf16" if native else "fp32")
    assert (tmp_path / "auto_precision.json").exists() == native


def test_optimize_auto_resolves_to_a_real_precision(tmp_path, monkeypatch):
    from rdafnet.ops import choose_precision

    monkeypatch.setenv("RDAFNET_CACHE", str(tmp_path))
    model = rdafnet.build("tiny", width=4, num_blocks=1)
    chosen = choose_precision(model)
    fast = rdafnet.optimize(model, precision="auto")
    assert chosen in ("fp32", "bf16", "int8")
    if chosen != "int8":  # (int8 runs the rest in bf16 where it is native)
        assert getattr(fast, "autocast_dtype", None) == (torch.bfloat16 if chosen == "bf16" else None)
    assert choose_precision(torch.nn.Sequential(rdafnet.RDAFB(8))) == "fp32"  # not an RDAFNet: exact


def test_keep_freed_memory_serves_large_tensors_from_the_reused_heap():
    # in a fresh process: where a 128 MB tensor (a 720p feature map of the single-stage network) lives.
    # glibc's default gives every allocation over 32 MB a fresh mapping of its own (new pages, faulted
    # in and zeroed each time); after keep_freed_memory() it comes from malloc's heap, which is reused
    import subprocess
    import sys

    code = """
import sys, torch
import rdafnet.ops
applied = rdafnet.ops.keep_freed_memory() if sys.argv[1] == "keep" else None
t = torch.empty(32 * 2**20)
ptr = t.data_ptr()
heap = [l for l in open("/proc/self/maps") if l.rstrip().endswith("[heap]")]
lo, hi = (int(v, 16) for v in heap[0].split()[0].split("-")) if heap else (0, 0)
print(applied, lo <= ptr < hi)
"""
    out = {
        mode: subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
        ).stdout.split()
        for mode in ("default", "keep")
    }
    if out["keep"][0] != "True":
        pytest.skip("not glibc: keep_freed_memory() does nothing here")
    assert out["default"][1] == "False"  # its own mapping
    assert out["keep"][1] == "True"  # malloc's heap
