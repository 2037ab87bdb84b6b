"""Long runs survive their environment: stop signals end a run where it is safe and the same command
resumes it, an unreadable pair mid-run is skipped and named, a diverging run stops without writing
non-finite weights, and a full disk is one line that names the file (the old checkpoint intact)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction

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
    assert ckpt.read_bytes() == before and not list(ckpt.parent.glob(".*.tmp"))


def _photos(folder, n, size=160):
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


@pytest.mark.slow
def test_sigterm_during_a_folder_run_half_writes_nothing_and_the_same_command_goes_on(tmp_path):
    photos = _photos(tmp_path / "in", 40)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rdafnet.cli", "deblur", str(photos), "-o", str(out), "--precision", "fp32"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(out / "p01.png", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    last = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(last) == 1 and re.match(r"error: stopped by SIGTERM after \d+ restored, no file half-written", last[0])
    done = sorted(out.iterdir())
    assert 2 <= len(done) < 40 and all(p.suffix == ".png" for p in done)  # no temporary file left
    from rdafnet.io.image import read_image

    assert all(read_image(p).shape == (160, 160, 3) for p in done)  # every file there is whole
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{40 - len(done)} restored, {len(done)} skipped" in res.stdout and len(list(out.iterdir())) == 40


@pytest.mark.slow
def test_sigterm_during_a_video_keeps_finished_segments_and_the_same_command_resumes(tmp_path):
    from helpers import decode_frames, make_clip

    clip = make_clip(tmp_path / "clip.mp4", w=256, h=192, n=24, audio=True)
    cmd = [sys.executable, "-m", "rdafnet.cli", "deblur", str(clip), "--segment-frames", "4", "--precision", "fp32"]
    cmd += ["-o", str(tmp_path / "out.mp4")]
    work = tmp_path / ".out.mp4.rdafnet-work"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(work / "seg-000001.mp4", proc, seconds=240)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM while restoring" in err and "run the same command to resume" in err
    assert not (tmp_path / "out.mp4").exists() and not list(work.glob(".*.tmp"))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert int(res.stdout.split("(")[1].split()[0]) < 24  # finished segments were not redone
    assert len(decode_frames(tmp_path / "out.mp4")[0]) == 24 and not work.exists()


def test_audio_the_container_cannot_hold_is_refused_before_the_first_frame(tmp_path, capsys):
    from helpers import make_clip

    clip = make_clip(tmp_path / "clip.mp4", n=6, audio=True)  # AAC audio
    assert main(["deblur", str(clip), "-o", str(tmp_path / "out.webm"), "--precision", "fp32"]) == 2
    err = capsys.readouterr().err
    assert "the aac audio of" in err and "write .mkv" in err and "--no-audio" in err
    assert not list(tmp_path.glob(".out.webm*")) and not (tmp_path / "out.webm").exists()  # no work folder
    assert main(["deblur", str(clip), "-o", str(tmp_path / "out.webm"), "--no-audio", "--precision", "fp32"]) == 0


def test_streams_the_output_drops_are_announced_before_the_work(tmp_path, capsys):
    import av
    from helpers import make_clip

    clip = make_clip(tmp_path / "clip.mp4", n=6, audio=True)
    subbed = tmp_path / "subbed.mkv"
    with av.open(str(clip)) as src, av.open(str(subbed), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        out.add_mux_stream("subrip").time_base = Fraction(1, 1000)
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    assert main(["deblur", str(subbed), "-o", str(tmp_path / "out.mkv"), "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "will not hold these streams" in notes[0] and "subtitle stream #2 (srt)" in notes[0]


def test_a_run_on_the_bundled_model_ends_with_the_way_to_the_papers_networks(tmp_path, capsys):
    import rdafnet
    from rdafnet.weights import registry

    photos = _photos(tmp_path / "in", 2, size=32)
    assert main(["deblur", str(photos), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].count("rdafnet download rdafnet-multi-stage-gopro") == 1 and registry.default_name() in out[-1]
    assert sum("rdafnet download" in line for line in out) == 1  # once per run, not per image
    rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(tmp_path / "mine")
    args = ["deblur", str(photos), "-o", str(tmp_path / "out2"), "--model", str(tmp_path / "mine")]
    assert main([*args, "--precision", "fp32"]) == 0
    assert "rdafnet download" not in capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_during_eval_and_the_same_command_scores_what_was_written(tmp_path):
    photos = _photos(tmp_path / "in", 40, size=128)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rdafnet.cli", "eval", "--no-reference", str(photos), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(out / "p01.png", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "error: stopped by SIGTERM, no file half-written; run the same command to go on" in err
    done = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 2 <= len(done) < 40 and not list(out.glob(".*.tmp"))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list(out.glob("*.png"))) == 40 and {p: p.stat().st_mtime_ns for p in done} == done
    assert sum(line.startswith("p") for line in res.stdout.splitlines()) == 40  # every photo scored


def test_one_unreadable_input_among_many_is_named_and_the_rest_is_done(tmp_path, capsys):
    pairs = _pairs_folder(tmp_path / "pairs", n=3)
    data = (pairs / "sharp" / "1.png").read_bytes()
    (pairs / "sharp" / "1.png").write_bytes(data[: len(data) // 3])
    # eval: the bad pair is named, the others scored, exit 1
    assert main(["eval", "--data", str(pairs), "--out", str(tmp_path / "restored")]) == 1
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if line.startswith("error: ")] == [
        line for line in captured.err.splitlines() if f"pair {pairs / 'blur' / '1.png'}" in line
    ]
    table = captured.out.splitlines()
    start = next(i for i, line in enumerate(table) if line.startswith("image")) + 1
    assert [line.split()[0] for line in table[start : start + 2]] == ["0.png", "2.png"]
    # make-pairs: the unreadable photo is named, the others make pairs, exit 1
    assert main(["make-pairs", "--sharp", str(pairs / "sharp"), "-o", str(tmp_path / "made")]) == 1
    captured = capsys.readouterr()
    assert f"warning: skipping {pairs / 'sharp' / '1.png'}: " in captured.err
    assert "wrote 2 pairs" in captured.out and "1 input(s) skipped" in captured.out
    assert sorted(p.name for p in (tmp_path / "made" / "blur").iterdir()) == ["0_0.png", "2_0.png"]


@pytest.mark.slow
def test_sigterm_to_the_whole_process_group_with_loader_workers(tmp_path):
    # SLURM and Ctrl-C signal every process of the job: the loader's workers leave it to the trainer
    _pairs_folder(tmp_path / "pairs", n=3)
    cmd = [*_train_cmd(tmp_path, "run", steps=3000), "--ckpt-every", "100000", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(tmp_path / "run" / "log.csv", proc)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    step = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"]
    assert f"stopped by SIGTERM at step {step}:" in err and "Traceback" not in err


def test_a_full_disk_during_a_video_names_the_video_not_a_segment(tmp_path, capsys, monkeypatch):
    import errno

    from helpers import make_clip

    import rdafnet.io.segments
    from rdafnet.utils.atomic import DiskFullError

    clip = make_clip(tmp_path / "clip.mp4", n=6, audio=False)

    def full(path, *a, **k):
        raise DiskFullError(errno.ENOSPC, f"cannot write {path}: the disk is full")

    monkeypatch.setattr(rdafnet.io.segments, "atomic_write", full)
    assert main(["deblur", str(clip), "-o", str(tmp_path / "out.mp4"), "--precision", "fp32"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and f"cannot write {tmp_path / 'out.mp4'}: the disk is full" in err[0], err
    assert "seg-" not in err[0] and "run the same command to resume" in err[0]


@pytest.mark.slow
def test_sigterm_during_a_download_leaves_nothing_in_the_cache(tmp_path):
    import http.server
    import threading

    from test_authors import NAME, _authors_file

    body = _authors_file(tmp_path / "GoPro.pth").read_bytes()
    started = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            started.set()
            try:
                for i in range(0, len(body), 1 << 16):  # a slow server: the download takes a while
                    self.wfile.write(body[i : i + (1 << 16)])
                    time.sleep(0.05)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache = tmp_path / "cache"
    env = {**os.environ, "RDAFNET_CACHE": str(cache), "HF_HUB_OFFLINE": "0"}  # this test downloads (loopback)
    mirror = f"http://127.0.0.1:{server.server_address[1]}"
    cmd = [sys.executable, "-m", "rdafnet.cli", "download", NAME, "--mirror", mirror]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(6000):  # until the download reaches the loopback server, or the command ends
            if started.wait(0.1) or proc.poll() is not None:
                break
        if not started.is_set():
            proc.kill()
            pytest.fail(f"the download never reached the loopback server: {proc.communicate()[1][-2000:]}")
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        server.shutdown()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by SIGTERM; nothing was half-written" in err and "Traceback" not in err
    assert [p.name for p in (cache / "models").iterdir()] == []  # the partial download is gone
