"""The examples run (executed, not just parsed)."""

import runpy
import sys

import numpy as np
import pytest
from helpers import ROOT

from rdafnet.io.image import write_image

EXAMPLES = ROOT / "examples"


def test_rdafb_in_my_model(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["rdafb_in_my_model.py", "--steps", "15"])
    ratio = runpy.run_path(str(EXAMPLES / "rdafb_in_my_model.py"))["main"]()
    assert ratio < 1.0  # the loss went down


def _tiny_pairs(root):
    rng = np.random.default_rng(0)
    for k in range(2):
        sharp = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        write_image(root / "sharp" / f"{k}.png", sharp)
        write_image(root / "blur" / f"{k}.png", (sharp // 2 + 60).astype(np.uint8))


def test_finetune_script(tmp_path, monkeypatch):
    _tiny_pairs(tmp_path / "pairs")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "finetune.py",
            str(tmp_path / "pairs"),
            str(tmp_path / "out"),
            "--steps",
            "3",
            "--crop",
            "32",
            "--val",
            str(tmp_path / "pairs"),
        ],
    )
    metrics = runpy.run_path(str(EXAMPLES / "finetune.py"))["main"]()
    assert "val_psnr" in metrics and (tmp_path / "out" / "final" / "model.safetensors").exists()


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _picture(outputs) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    (png,) = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB")).astype(np.int16)


def test_the_notebook_is_stored_with_its_picture_and_no_warnings():
    nbformat = pytest.importorskip("nbformat")
    path = EXAMPLES / "quickstart.ipynb"
    outputs = _outputs(nbformat.read(path, as_version=4))
    picture = _picture(outputs)  # what a reader on a code host sees: the before/after picture
    assert picture.shape == (128, 384, 3) and picture.std() > 10
    assert not [o for o in outputs if o.get("name") == "stderr" or o.get("output_type") == "error"]
    views = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(views) == 1 and 'class="rdafnet-compare"' in views[0]  # the before/after view of the crop
    assert path.stat().st_size < 700_000  # small: a half-size picture in one format, the view of a crop


@pytest.mark.slow
def test_quickstart_notebook_executes_to_its_stored_outputs():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    stored = _outputs(nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4))
    nb = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    ).execute()
    outputs = _outputs(nb)
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert not [o["text"] for o in outputs if o.get("name") == "stderr"]  # no warning in any cell
    # the stored picture is what the notebook makes today (within float rounding of the restoration)
    assert np.abs(_picture(outputs) - _picture(stored)).max() <= 2


def test_export_model_script(tmp_path, monkeypatch, capsys):
    import json

    import rdafnet
    from rdafnet.weights.hub import sha256

    _tiny_pairs(tmp_path / "pairs")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "finetune.py",
            str(tmp_path / "pairs"),
            str(tmp_path / "run"),
            "--steps",
            "2",
            "--crop",
            "32",
            "--val",
            str(tmp_path / "pairs"),
        ],
    )
    runpy.run_path(str(EXAMPLES / "finetune.py"))["main"]()
    capsys.readouterr()
    out = tmp_path / "exported"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "export_model.py",
            str(tmp_path / "run" / "best"),
            str(out),
            "--name",
            "mine",
            "--test",
            str(tmp_path / "pairs"),
            "--timing-size",
            "32x48",
        ],
    )
    runpy.run_path(str(EXAMPLES / "export_model.py"), run_name="__main__")
    entry = json.loads(capsys.readouterr().out)
    assert entry["sha256"]["model.safetensors"] == sha256(out / "model.safetensors")
    assert set(entry["metrics"]) == {"0.png", "1.png"}
    assert set(entry["cpu_seconds_32x48"]) >= {"reference", "optimized"}
    card = (out / "README.md").read_text()
    assert "CPU seconds per 32x48 frame" in card
    info = json.loads((tmp_path / "run" / "best" / "training.json").read_text())
    assert f"Steps: {info['step']} of 2 (the run's `best/` export), batch {info['config']['batch_size']}" in card
    assert "| 0 | test |" in card and "Mean gain" in card
    model = rdafnet.from_pretrained(out)
    assert sum(p.numel() for p in model.parameters()) > 0
    with pytest.raises(SystemExit, match="already holds a model"):
        runpy.run_path(str(EXAMPLES / "export_model.py"), run_name="__main__")
