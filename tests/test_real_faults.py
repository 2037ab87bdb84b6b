"""Real faults, not simulated ones: every command that writes a model runs in a subprocess under a
file-size limit (``RLIMIT_FSIZE``, what ``ulimit -f`` sets) or on a small tmpfs (where root may mount one),
and must end with one line that names the user's file, exit code 2, no traceback, no partial or empty
file under a final name, and an earlier file intact."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from test_authors import _authors_file
from test_training import _pairs_folder, _train_cmd

LIMIT = 64 * 1024  # bytes: config files and logs fit, weights and checkpoints do not


def _limited(limit: int = LIMIT):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _run(cmd, tmp_path, *, limit: int | None = LIMIT, env=None):
    env = {**os.environ, "RDAFNET_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1", **(env or {})}
    res = subprocess.run(
        cmd, capture_output=True, text=True, env=env, preexec_fn=_limited(limit) if limit else None, timeout=600
    )
    return res.returncode, res.stderr


def _one_line(rc, err, names: Path):
    assert rc == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and str(names) in last, last
    return last


def _no_partial_files(folder: Path):
    """Nothing half-written under a final name: no empty file, no temporary file left behind."""
    if not folder.exists():
        return
    for p in folder.rglob("*"):
        if p.is_file():
            assert p.stat().st_size > 0, p
            assert not p.name.startswith(".rdafnet-"), p


def test_convert_under_a_file_size_limit(tmp_path):
    pth = _authors_file(tmp_path / "GoPro.pth")
    out = tmp_path / "converted"
    rc, err = _run([sys.executable, "-m", "rdafnet.cli", "convert", str(pth), str(out)], tmp_path)
    last = _one_line(rc, err, out / "model.safetensors")
    assert "file-size limit" in last and "ulimit -f" in last
    _no_partial_files(out)
    assert not (out / "model.safetensors").exists()


def test_download_from_into_a_cache_under_a_file_size_limit(tmp_path):
    pth = _authors_file(tmp_path / "GoPro.pth")
    cmd = [sys.executable, "-m", "rdafnet.cli", "download", "rdafnet-single-stage-gopro", "--from", str(pth)]
    rc, err = _run(cmd, tmp_path)
    assert rc == 2 and "Traceback" not in err and "file-size limit" in err.strip().splitlines()[-1], err[-3000:]
    models = tmp_path / "cache" / "models"
    assert not (models / "rdafnet-single-stage-gopro").exists()  # nothing registered half-way
    assert [p.name for p in models.iterdir() if p.name.startswith(".")] == []
    # and with room again, the same command registers it
    rc, err = _run(cmd, tmp_path, limit=None)
    assert rc == 0, err


def test_save_pretrained_keeps_the_earlier_model_under_a_file_size_limit(tmp_path):
    out = tmp_path / "model"
    code = "import rdafnet, sys; rdafnet.build('tiny', width=int(sys.argv[1])).save_pretrained(sys.argv[2])"
    rc, err = _run([sys.executable, "-c", code, "4", str(out)], tmp_path, limit=None)
    assert rc == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, err = _run([sys.executable, "-c", code, "32", str(out)], tmp_path, limit=256 * 1024)
    assert rc == 1 and "DiskFullError: cannot write" in err and str(out / "model.safetensors") in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier model is intact


@pytest.mark.slow
def test_train_under_a_file_size_limit_names_the_checkpoint(tmp_path):
    _pairs_folder(tmp_path / "pairs", n=2)
    rc, err = _run(_train_cmd(tmp_path, "run", steps=4), tmp_path, limit=8 * 1024)
    last = _one_line(rc, err, tmp_path / "run")
    assert "file-size limit" in last
    _no_partial_files(tmp_path / "run")


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "2m"):
        pytest.skip("mounting a tmpfs needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)])


def test_a_full_disk_while_saving_a_model(tmp_path, small_disk):
    """A 2 MiB tmpfs: the 'small' network's weights (3 MiB) do not fit."""
    out = small_disk / "model"
    code = "import rdafnet, sys; rdafnet.build('small').save_pretrained(sys.argv[1])"
    rc, err = _run([sys.executable, "-c", code, str(out)], tmp_path, limit=None)
    assert rc == 1 and "the disk is full" in err and str(out / "model.safetensors") in err, err[-2000:]
    _no_partial_files(small_disk)
    assert not (out / "README.md").exists() and not (out / "model.safetensors").exists()


def test_a_full_disk_while_exporting_onnx(tmp_path, small_disk):
    import rdafnet

    rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(tmp_path / "model")  # a small graph: quick
    out = small_disk / "m.onnx"
    (small_disk / "filler").write_bytes(bytes(2 * 1024 * 1024 - 24 * 1024))  # leave about 24 KiB
    cmd = [sys.executable, "-m", "rdafnet.cli", "export-onnx", str(tmp_path / "model"), str(out)]
    rc, err = _run(cmd, tmp_path, limit=None)
    last = _one_line(rc, err, out)
    assert "the disk is full" in last
    _no_partial_files(small_disk)
    assert not out.exists()
