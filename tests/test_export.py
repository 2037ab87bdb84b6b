"""ONNX export: the exported graph, run by onnxruntime, matches the PyTorch model at any size."""

import numpy as np
import pytest
import torch
from helpers import ROOT

import rdafnet
from rdafnet.cli import main as cli

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TOL = 1e-5  # float32 rounding (observed: up to 1e-6)


def _run(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["blurry"]
    return session.run(["sharp"], {"blurry": x.numpy()})[0]


@pytest.fixture(scope="module")
def bundled_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "bundled.onnx"
    assert cli(["export-onnx", str(path)]) == 0
    return path


def _sample_crop() -> torch.Tensor:
    from rdafnet.io.image import read_image, to_float

    img = read_image(ROOT / "rdafnet" / "samples" / "gopro_blurry.png")[200:455, 300:631]  # 255 x 331, odd
    return torch.from_numpy(np.ascontiguousarray(to_float(img))).permute(2, 0, 1)[None]


@pytest.mark.parametrize("shape", [(1, 3, 64, 96), (2, 3, 37, 53), (1, 3, 5, 7), (1, 3, 4, 4)])
def test_bundled_model_matches_at_any_size(bundled_onnx, shape):
    model = rdafnet.from_pretrained()
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x).numpy()
    out = _run(bundled_onnx, x)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < TOL


def test_bundled_model_matches_on_a_real_frame(bundled_onnx):
    model = rdafnet.from_pretrained()
    x = _sample_crop()
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(_run(bundled_onnx, x) - ref).max() < TOL
    assert np.abs(ref - x.numpy()).max() > 0.01  # the model does change the frame


def test_multi_stage_exports(tmp_path):
    torch.manual_seed(0)
    model = rdafnet.build("multi-stage", width=16, num_blocks=(2, 2, 2)).eval()
    path = rdafnet.export_onnx(model, tmp_path / "ms.onnx")
    x = torch.rand(1, 3, 41, 30, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(_run(path, x) - ref).max() < TOL


def test_export_refuses_what_it_cannot_write(tmp_path, bundled_onnx, capsys):
    model = rdafnet.from_pretrained()
    with pytest.raises(ValueError, match="from_pretrained"):
        rdafnet.export_onnx(rdafnet.optimize(model), tmp_path / "fast.onnx")
    with pytest.raises(ValueError, match="set_norm_window"):
        rdafnet.export_onnx(rdafnet.set_norm_window(rdafnet.from_pretrained(), 64), tmp_path / "window.onnx")
    with pytest.raises(TypeError, match="RDAFNet network"):
        rdafnet.export_onnx(rdafnet.RDAFB(16), tmp_path / "block.onnx")
    before = bundled_onnx.read_bytes()
    assert cli(["export-onnx", str(bundled_onnx)]) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert bundled_onnx.read_bytes() == before
    assert not list(tmp_path.iterdir())


def test_the_file_names_its_axes_and_says_what_it_holds(bundled_onnx):
    import onnx

    from rdafnet.utils.checkpoint import state_digest

    proto = onnx.load(str(bundled_onnx))
    for value in (*proto.graph.input, *proto.graph.output):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == ["batch", 3, "height", "width"], value.name
    props = {p.key: p.value for p in proto.metadata_props}
    model = rdafnet.from_pretrained()
    assert props["rdafnet.model_name"] == model.pretrained["name"] == "rdafnet-tiny-gopro-v4"
    assert props["rdafnet.state_sha256"] == state_digest(model)
    assert props["rdafnet.version"] == rdafnet.__version__
    assert "range [0, 1]" in props["rdafnet.input"] and "(batch, 3, height, width)" in props["rdafnet.input"]
    # onnxruntime reads the same map, and the names of the axes
    session = ort.InferenceSession(str(bundled_onnx), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map == props
    assert session.get_inputs()[0].shape == ["batch", 3, "height", "width"]


def test_the_state_digest_tells_other_weights_apart(tmp_path):
    import onnx

    a = rdafnet.build("tiny", width=4, num_blocks=1)
    path = rdafnet.export_onnx(a, tmp_path / "a.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["rdafnet.model_name"] == "tiny"
    with torch.no_grad():
        a.tail.weight.add_(1e-3)
    path_b = rdafnet.export_onnx(a, tmp_path / "b.onnx")
    props_b = {p.key: p.value for p in onnx.load(str(path_b)).metadata_props}
    assert props_b["rdafnet.state_sha256"] != props["rdafnet.state_sha256"]


@pytest.mark.slow
def test_the_cli_export_prints_one_line_and_no_warnings(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "m.onnx"
    rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(tmp_path / "model")  # a small graph: quick
    cmd = [sys.executable, "-m", "rdafnet.cli", "export-onnx", str(tmp_path / "model"), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert proc.stderr == "", proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 and out.is_file()
