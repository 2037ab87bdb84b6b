"""Long runs survive their environment: stop signals end a run where it is safe and the same command
resumes it, an unreadable pair mid-run is skipped and named, a diverging run stops without writing
non-finite weights, and a full disk is one line that names the file (the old checkpoint intact)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_training import _pairs_folder, _train_cmd

from rdafnet.cli import main
from rdafnet.io.image import write_image


def _args(tmp_path, out="run", steps=2, *extra):
    return [*_train_cmd(tmp_path, out, steps=steps)[3:], *extra]


def _wait_for(path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert path.exists() and proc.poll() is None, "the run ended before it could be signalled"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_writes_the_checkpoint_and_the_same_command_resumes_to_the_same_weights(tmp_path, sig):
    _pairs_folder(tmp_path / "pairs", n=3)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    steps, no_periodic = 300, ["--ckpt-every", "100000"]
    straight = [*_train_cmd(tmp_path, "straight", steps=steps), *no_periodic]
    subprocess.run(straight, check=True, env=env, capture_output=True)
    cmd = [*_train_cmd(tmp_path, "stopped", steps=steps), *no_periodic]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "stopped" / "log.csv", proc)  # training has started (10 steps logged)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: stopped by {sig.name} at step ") and "run the same command to resume" in last
    step = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)["step"]
    assert 10 <= step < steps and f"at step {step}:" in last
    assert not (tmp_path / "stopped" / "final").exists()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    a = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    b = load_file(tmp_path / "stopped" / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_unreadable_pair_mid_run_is_skipped_named_and_counted(tmp_path, capsys):
    pairs = _pairs_folder(tmp_path / "pairs", n=3)
    whole = (pairs / "blur" / "1.png").read_bytes()
    (pairs / "blur" / "1.png").write_bytes(whole[: len(whole) // 3])  # a valid header, a truncated body
    write_image(pairs / "blur" / "2.png", np.zeros((40, 40, 3), np.uint8), overwrite=True)  # sizes differ
    assert main(_args(tmp_path, "run", 10, "--ckpt-every", "3")) == 0
    err = capsys.readouterr().err
    for name in ("1.png", "2.png"):
        assert err.count(f"warning: skipping training pair {pairs / 'blur' / name}") == 1, err
    assert "skipped 2 unreadable training pair(s)" in err
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].split(",")[-1] == "skipped" and log[-1].split(",")[-1] == "2"
    # a resumed run knows what it skipped before, and draws the same pairs
    assert main(_args(tmp_path, "run", 20, "--ckpt-every", "3")) == 0
    assert "skipped 2 unreadable" in capsys.readouterr().err


def test_every_pair_unreadable_is_an_error_naming_one(tmp_path, capsys):
    pairs = _pairs_folder(tmp_path / "pairs", n=2)
    for k in (0, 1):
        data = (pairs / "blur" / f"{k}.png").read_bytes()
        (pairs / "blur" / f"{k}.png").write_bytes(data[: len(data) // 3])
    assert main(_args(tmp_path)) == 2
    assert "no training pair can be read" in capsys.readouterr().err


def test_a_diverging_run_stops_naming_the_step_and_the_lr_and_writes_no_bad_weights(tmp_path, capsys):
    _pairs_folder(tmp_path / "pairs", n=2, size=64)
    args = _args(tmp_path, "run", 6, "--fp32")
    args[args.index("--lr") + 1] = "1e9"
    args[args.index("--crop") + 1] = "64"
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and re.search(r"training diverged at step \d+ \(lr [0-9.e+]+, ", err[0]), err
    assert not (tmp_path / "run" / "final").exists()
    ckpt = tmp_path / "run" / "checkpoint.pt"
    if ckpt.exists():  # whatever was written holds finite weights
        state = torch.load(ckpt, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
        assert f"step {state['step']}) is the last good state" in err[0]


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_old_checkpoint(tmp_path, capsys, monkeypatch):
    import shutil

    _pairs_folder(tmp_path / "pairs", n=2)
    assert main(_args(tmp_path, "run", 2)) == 0
    ckpt = tmp_path / "run" / "checkpoint.pt"
    before = ckpt.read_bytes()
    capsys.readouterr()

    def full_disk_save(obj, f, *a, **k):  # what torch.save does when the disk fills mid-file
        with open(f, "wb") as out:
            out.write(b"PK\x03\x04partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file")

    real_usage = shutil.disk_usage
    monkeypatch.setattr(torch, "save", full_disk_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real_usage(p)._replace(free=4096))
    assert main(_args(tmp_path, "run", 4)) == 2
    out = capsys.readouterr().err
    err = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and "Traceback" not in out, out
    assert f"cannot write {ckpt}: the disk is full (0.0 MiB free there, about " in err[0]
    assert "MiB needed); the previous checkpoint.pt is unchanged" in err[0]
    assert ckpt.read_bytes() == before and not list(ckpt.parent.glob(".checkpoint.pt.*"))
