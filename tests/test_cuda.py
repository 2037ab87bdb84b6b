"""On a real CUDA device: Triton kernels against float64, reduced precision, tiling with
out-of-memory halving, and parity of both networks. Skipped without a GPU (``-m cuda`` selects them)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import recipe_state_dict

import rdafnet
from rdafnet.inference.tiling import restore_tensor

pytestmark = pytest.mark.cuda
DEV = "cuda"


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def test_triton_kernel_matches_float64_on_the_gpu():
    triton_norm = pytest.importorskip("rdafnet.layers.triton_norm")
    if triton_norm.triton is None:
        pytest.skip("triton is not installed")
    torch.manual_seed(0)
    for dtype, tol in [(torch.float32, 1e-4), (torch.bfloat16, 0.05), (torch.float16, 0.01)]:
        for cl in (False, True):
            for slope in (0.2, None):
                x = torch.randn(2, 70, 181, 243, device=DEV) * 2 + 3  # odd sizes, > 64 channels
                x = (x.to(memory_format=torch.channels_last) if cl else x).to(dtype)
                truth = F.instance_norm(x.double(), eps=1e-5)
                truth = F.leaky_relu(truth, slope) if slope is not None else truth
                y = triton_norm.instance_norm_act(x.clone(), eps=1e-5, slope=slope)
                assert y.dtype == dtype and y.is_cuda
                err = (y.double() - truth).abs().max().item()
                assert err < tol, (dtype, cl, slope, err)
    assert not triton_norm._FAILED


@pytest.mark.parametrize("variant", ["single-stage", "multi-stage"])
def test_parity_fixture_on_the_gpu(reference_dir, variant):
    _, hp, sd = rdafnet.convert_official(recipe_state_dict(variant))
    model = rdafnet.build(variant, **hp)
    model.load_state_dict(sd)
    model = model.to(DEV).double().eval()
    fixture = np.load(reference_dir / f"parity_{variant.replace('-', '_')}.npz")
    names = ["output"] if variant == "single-stage" else ["output_1", "output_2", "output_3"]
    x = (torch.from_numpy(fixture["input"]).double().to(DEV) + 1) / 2
    with torch.no_grad():
        for path, m in (("reference", model), ("optimized", rdafnet.optimize(model))):
            for out, name in zip(m(x, return_stages=True), names, strict=True):
                err = np.abs((out * 2 - 1).cpu().numpy() - fixture[name]).max()
                assert err < 1e-6, f"{variant} {path} {name}: {err:.3g}"


@pytest.mark.parametrize("variant", ["single-stage", "multi-stage"])
def test_optimized_float32_and_reduced_precision_on_the_gpu(variant):
    torch.manual_seed(0)
    model = rdafnet.build(variant).to(DEV).eval()
    x = torch.rand(1, 3, 256, 384, device=DEV, generator=torch.Generator(DEV).manual_seed(0))
    with torch.no_grad():
        truth = model.double()(x.double()).float()
        model.float()
        ref = model(x)
        fast = rdafnet.optimize(model)(x)
        # fp32 (cuDNN may use TF32 in both paths): the optimized path is about as close to float64
        # as the reference path; instance norm amplifies rounding differently in each, most in multi-stage
        assert _psnr(fast, truth) > _psnr(ref, truth) - 3
        for precision in ("bf16", "fp16"):
            out = rdafnet.optimize(model, precision=precision)(x)
            assert out.dtype == torch.float32 and torch.isfinite(out).all()
            # random weights amplify rounding most; garbage would be under 15 dB, fp32 over 200
            assert 25 < _psnr(out, ref) < 200, precision


def test_fp16_full_frame_is_finite_on_the_gpu():
    model = rdafnet.optimize(rdafnet.from_pretrained().to(DEV), precision="fp16")
    x = torch.rand(1, 3, 720, 1280, device=DEV, generator=torch.Generator(DEV).manual_seed(1)) * 0.2 + 0.7
    with torch.no_grad():
        y = model(x)
        ref = rdafnet.optimize(rdafnet.from_pretrained().to(DEV))(x)
    assert torch.isfinite(y).all() and _psnr(y, ref) > 40


def test_tiled_inference_on_the_gpu_matches_whole_frames():
    model = rdafnet.optimize(rdafnet.from_pretrained().to(DEV))
    x = torch.rand(1, 3, 720, 1280, generator=torch.Generator().manual_seed(2))  # stays on the host
    full = restore_tensor(x, model)
    tiled = restore_tensor(x, model, tile=512, overlap=128, batch_size=4)
    assert full.device.type == tiled.device.type == "cpu"
    assert _psnr(tiled, full) > 35


def test_out_of_memory_halves_the_tile_batch_on_the_gpu():
    torch.manual_seed(0)
    model = rdafnet.build("single-stage").to(DEV).eval()
    sizes = []
    forward = model.forward
    model.forward = lambda t, **kw: sizes.append(len(t)) or forward(t, **kw)
    x = torch.rand(1, 3, 512, 1024, generator=torch.Generator().manual_seed(3))
    one = restore_tensor(x, model, tile=256, overlap=64, batch_size=1)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    cap = (torch.cuda.memory_allocated() + 2 * 2**30) / total  # 2 GiB more than the weights
    torch.cuda.set_per_process_memory_fraction(cap)
    try:
        sizes.clear()
        many = restore_tensor(x, model, tile=256, overlap=64, batch_size=64)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert sizes[0] == 64 and min(sizes) < 64, sizes  # it ran out, halved, and finished
    torch.testing.assert_close(many, one, rtol=0, atol=1e-4)
