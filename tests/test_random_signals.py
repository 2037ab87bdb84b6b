"""A real SIGTERM at seeded random points of each command's work: the command ends with one ``error:`` line
and exit code 128 + SIGTERM (or had finished), leaves nothing that blocks the same command, and the same
command then completes with outputs identical to an uninterrupted run.

The points are drawn after the interpreter has imported the library (measured in the same test), over
the time the uninterrupted command took: a signal during ``import torch`` meets Python's default handler,
before any of the command's code runs."""

from __future__ import annotations

import functools
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_authors import _authors_file

from rdafnet.io.image import read_image, write_image

RUNS = 2  # seeded points per command (the suite's time budget; raise it to probe more)


def _digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path -> sha256 of its bytes (images: of their pixels)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            # images by their pixels; text without the folder's own name (a card's usage example names it)
            data = read_image(p).tobytes() if p.suffix == ".png" else p.read_bytes().replace(bytes(folder), b"OUT")
            out[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return out


@functools.cache
def _import_seconds() -> float:
    """How long the interpreter takes to import the command line (once per test session)."""
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "import rdafnet.cli"], check=True)
    return time.monotonic() - t


def _inputs(tmp_path: Path) -> Path:
    import rdafnet

    frame = read_image(rdafnet.SAMPLE_IMAGE)
    for k in range(6):
        write_image(tmp_path / "in" / f"p{k}.png", frame[100 * k : 100 * k + 96, 200:328])
    return tmp_path / "in"


def _commands(tmp_path: Path) -> dict[str, tuple[list[str], Path]]:
    import rdafnet

    src = _inputs(tmp_path)
    pth = _authors_file(tmp_path / "GoPro.pth")
    small = tmp_path / "small-model"  # a small graph exports in seconds
    rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(small)
    cli = [sys.executable, "-m", "rdafnet.cli"]
    return {
        "deblur": ([*cli, "deblur", str(src), "-o", "{out}"], Path("{out}")),
        "make-pairs": ([*cli, "make-pairs", "--sharp", str(src), "-o", "{out}", "--per-image", "2"], Path("{out}")),
        "convert": ([*cli, "convert", str(pth), "{out}"], Path("{out}")),
        "export-onnx": ([*cli, "export-onnx", str(small), "{out}/m.onnx"], Path("{out}")),
        "eval": ([*cli, "eval", "--no-reference", str(src), "--out", "{out}"], Path("{out}")),
    }


def _fill(cmd: list[str], out: Path) -> list[str]:
    return [c.replace("{out}", str(out)) for c in cmd]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deblur", "make-pairs", "convert", "export-onnx", "eval"])
def test_sigterm_at_random_points_then_the_same_command_completes(tmp_path, name):
    cmd, _ = _commands(tmp_path)[name]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    t = time.monotonic()
    subprocess.run(_fill(cmd, straight), check=True, env=env, capture_output=True, timeout=600)
    took, start = time.monotonic() - t, _import_seconds()
    want = _digest(straight)
    rng = random.Random(f"{name}-signals")
    for run in range(RUNS):
        out = tmp_path / f"run{run}"
        delay = start + rng.uniform(0.0, max(took - start, 0.1))
        proc = subprocess.Popen(_fill(cmd, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:  # it was stopped (not already done): said so in one line, then goes on
            assert proc.returncode == 128 + signal.SIGTERM, (delay, proc.returncode, err[-2000:])
            assert "Traceback" not in err, err[-2000:]
            assert err.strip().splitlines()[-1].startswith("error: stopped by SIGTERM"), err[-2000:]
            again = subprocess.run(_fill(cmd, out), env=env, capture_output=True, text=True, timeout=600)
            assert again.returncode == 0, (delay, again.stderr[-2000:])
        assert _digest(out) == want, delay
