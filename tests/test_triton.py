"""Triton kernels, run in Triton's CPU interpreter (``TRITON_INTERPRET=1``) in a subprocess."""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton")


def _run(code: str, **env: str) -> str:
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRITON_INTERPRET": "1", **env},
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_kernel_matches_float64_instance_norm():
    _run("""
        import torch, torch.nn.functional as F
        from rdafnet.layers.triton_norm import instance_norm_act
        torch.manual_seed(0)
        # odd sizes (masked tails), > 32 channels (two channel blocks), both layouts, offset mean
        for dtype, tol in [(torch.float32, 1e-5), (torch.bfloat16, 0.05)]:
            for cl in (False, True):
                for slope in (0.2, None):
                    x = torch.randn(2, 37, 13, 21) * 2 + 3
                    x = (x.to(memory_format=torch.channels_last) if cl else x).to(dtype)
                    truth = F.instance_norm(x.double(), eps=1e-5)
                    truth = F.leaky_relu(truth, slope) if slope is not None else truth
                    y = instance_norm_act(x.clone(), eps=1e-5, slope=slope)
                    assert y.dtype == dtype
                    err = (y.double() - truth).abs().max().item()
                    assert err < tol, (dtype, cl, slope, err)
        # out= another strided view (the interior of a padded buffer)
        x = torch.randn(1, 4, 9, 11)
        buf = torch.zeros(1, 4, 11, 13)
        instance_norm_act(x, eps=1e-5, slope=0.2, out=buf[..., 1:-1, 1:-1])
        torch.testing.assert_close(buf[..., 1:-1, 1:-1], F.leaky_relu(F.instance_norm(x, eps=1e-5), 0.2))
        assert buf[..., 0, :].abs().sum() == 0
    """)


def test_optimized_model_uses_kernels_and_matches_eager_path():
    out = _run("""
        import torch, rdafnet
        from rdafnet.layers import fused, triton_norm
        torch.manual_seed(0)
        model = rdafnet.build("tiny", width=8, num_blocks=2).eval()
        x = torch.rand(1, 3, 20, 28)
        calls = []
        kernel = triton_norm.instance_norm_act
        triton_norm.instance_norm_act = lambda *a, **k: calls.append(1) or kernel(*a, **k)
        with torch.no_grad():
            y = rdafnet.optimize(model)(x)
        assert len(calls) == 2 * 4, len(calls)         # every norm of both blocks
        with torch.no_grad():
            ref = model(x)
        torch.testing.assert_close(y, ref, rtol=0, atol=1e-5)
        # a failing kernel falls back to the eager path, once, with a warning
        def broken(*a, **k):
            raise RuntimeError("no kernel for this GPU")
        triton_norm.instance_norm_act = broken
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with torch.no_grad():
                y2 = rdafnet.optimize(model)(x)
        assert sum("Triton kernels disabled" in str(m.message) for m in w) == 1
        torch.testing.assert_close(y2, ref, rtol=0, atol=1e-5)
        print("ok")
    """)
    assert "ok" in out


def test_switch_off_with_environment_variable():
    _run(
        """
        import torch
        from rdafnet.layers import triton_norm
        assert not triton_norm.available(torch.zeros(1, 1, 2, 2))
        assert not triton_norm.available(torch.zeros(1, 1, 2, 2, dtype=torch.float64))
    """,
        RDAFNET_TRITON="0",
    )
