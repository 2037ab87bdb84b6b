"""The Winograd convolutions of ``bench.py winograd-own`` (PyTorch ops, measured against NNPACK; not a
library path) compute the convolution: the transforms are exact in float64, and F(4x4, 3x3) and F(6x6, 3x3)
stay within the bound the library holds NNPACK to (1e-5 of the output's range, relative to float64)."""

import sys

import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_winograd import OwnWinograd, cook_toom  # noqa: E402


@pytest.mark.parametrize(("m", "r"), [(4, 3), (6, 3), (4, 5), (6, 5)])
def test_the_transforms_compute_a_correlation_exactly_in_float64(m, r):
    at, g, bt = cook_toom(m, r)
    gen = torch.Generator().manual_seed(m * 10 + r)
    d, k = torch.rand(m + r - 1, generator=gen, dtype=torch.float64), torch.rand(r, generator=gen, dtype=torch.float64)
    expected = torch.stack([(d[i : i + r] * k).sum() for i in range(m)])
    assert torch.allclose(at @ ((g @ k) * (bt @ d)), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("m", [4, 6])
def test_a_3x3_layer_matches_float64_to_fp32_rounding(m):
    gen = torch.Generator().manual_seed(m)
    x = torch.rand(1, 32, 45, 38, generator=gen)  # odd sizes: the last tiles are partly padding
    w = (torch.rand(24, 32, 3, 3, generator=gen) - 0.5) / 17
    b = torch.rand(24, generator=gen) - 0.5
    ref = F.conv2d(x.double(), w.double(), b.double())
    with torch.no_grad():
        y = OwnWinograd(w, b, m)(x)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert float((y - ref).abs().max()) <= 1e-5 * float(ref.abs().max())
