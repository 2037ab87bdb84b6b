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


@pytest.mark.slow
def test_quickstart_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the before/after picture


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
