"""The prepared CUDA run (benchmarks/gpu_run.py), rehearsed on the CPU: pack, then run --tiny."""

import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from helpers import ROOT

import rdafnet
from rdafnet.io.image import read_image, write_image

SCRIPT = ROOT / "benchmarks" / "gpu_run.py"


def _fake_shared_data(root):
    """The layout of ../shared/data that ``pack`` reads, with small synthetic frames."""
    rng = np.random.default_rng(0)

    def pair(folder, name, suffix=".png"):
        sharp = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        blur = ((sharp.astype(np.uint16) + np.roll(sharp, 3, axis=1)) // 2).astype(np.uint8)
        write_image(folder / "blur" / f"{name}{suffix}", blur)
        write_image(folder / "sharp" / f"{name}{suffix}", sharp)

    pair(root / "gopro_dev", "GOPR0396_11_00-000001")
    for name in (
        "GOPR0374_11_00_st_frame-802_n_avg-10",
        "GOPR0374_11_00_st_frame-614_n_avg-8",
        "GOPR0384_11_02_st_frame-698_n_avg-8",
        "GOPR0477_11_00_st_frame-165_n_avg-8",
    ):
        pair(root / "gopro_train_pairs", name)
    for n in (47, 60, 104, 112, 129):
        pair(root / "gopro_train_GOPR0372_07_00", f"{n:06d}", ".webp")
    return root


def _run(*args):
    res = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout


@pytest.mark.slow
def test_pack_keeps_the_split_and_the_pixels(tmp_path):
    data = _fake_shared_data(tmp_path / "shared")
    _run("pack", "--data", data, "-o", tmp_path / "gpu_data")
    manifest = json.loads((tmp_path / "gpu_data" / "manifest.json").read_text())
    files = {m["file"] for m in manifest}
    # validation: the held-out scenes and frame; training: the rest, and GOPR0372 only up to frame 104
    assert {f.split("/")[1] for f in files if f.startswith("val/")} == {
        "GOPR0396_11_00",
        "GOPR0384_11_02",
        "GOPR0374_11_00",
    }
    assert "train/GOPR0372_07_00/blur/000104.webp" in files and not any("000112" in f or "000129" in f for f in files)
    assert not any(f.startswith("train/GOPR0396") or f.startswith("train/GOPR0384") for f in files)
    for m in manifest:  # lossless: every packed image equals its source
        assert np.array_equal(read_image(tmp_path / "gpu_data" / m["file"]), read_image(m["source"]))
    with pytest.raises(AssertionError, match="not empty"):
        _run("pack", "--data", data, "-o", tmp_path / "gpu_data")
    _run("pack", "--data", data, "-o", tmp_path / "small", "--max-mib", "0.05")
    assert len(list((tmp_path / "small").rglob("*.webp"))) < len(manifest)


@pytest.mark.slow
def test_tiny_rehearsal_writes_every_result(tmp_path):
    data = _fake_shared_data(tmp_path / "shared")
    _run("pack", "--data", data, "-o", tmp_path / "gpu_data")
    out = tmp_path / "out"
    # no wall-time budget: the rehearsal's steps are fixed in work (8 training steps), so a loaded machine
    # takes longer but passes
    log = _run("run", "--tiny", "--data", tmp_path / "gpu_data", "--out", out, "--work", tmp_path / "work")
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and {"gpu_run.log", "pytest.log", "train.tar"} <= set(files)
    result = json.loads(next(out.glob("cpu-*.json")).read_text())
    assert result["facts"]["torch"] and result["tests"]["exit"] == 0  # the CUDA tests skip on the CPU
    paths = {r["path"]: r for r in result["speed"]}
    assert set(paths) == {"reference", "optimized", "optimized-bf16", "optimized-fp16", "optimized-tiled32"}
    assert paths["optimized"]["psnr_vs_reference"] > 100 and paths["reference"]["x_vs_reference"] == 1.0
    assert result["train"]["steps"] > 0 and "val_gain_heldout" in result["train"]["metrics"]
    with tarfile.open(out / "train.tar") as tar:
        tar.extractall(tmp_path / "back", filter="data")
    model = rdafnet.from_pretrained(tmp_path / "back" / "best")
    assert model.config["width"] == 8
    assert "| tiny | optimized |" in log
