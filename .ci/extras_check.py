"""Each optional extra alone: run in a fresh virtual environment holding only ``rdafnet[EXTRA]`` (and torch),
it runs that feature's smallest real use. With ``none`` (the core alone) it checks that the core restores an
image and that every optional feature refuses in one line naming its extra.

    python .ci/extras_check.py {none,download,video,io16,onnx,triton}

Needs ``../shared/reference`` beside the repository for the authors'-format checkpoint of ``download``.
"""

from __future__ import annotations

import http.server
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAME = "rdafnet-single-stage-gopro"


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = subprocess.run(
        [sys.executable, "-m", "rdafnet.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )
    return res.returncode, res.stdout + res.stderr


def ok(args: list[str], env: dict[str, str] | None = None) -> str:
    rc, out = cli(*args, env=env)
    assert rc == 0, f"rdafnet {' '.join(args)} failed ({rc}):\n{out[-3000:]}"
    return out


def refused(args: list[str], extra: str) -> None:
    rc, out = cli(*args)
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert rc in (1, 2) and "Traceback" not in out, f"rdafnet {' '.join(args)}: {rc}\n{out[-3000:]}"
    assert len(errors) == 1 and f"rdafnet[{extra}]" in errors[0], f"one line naming rdafnet[{extra}]:\n{out}"
    print(f"  refused, naming rdafnet[{extra}]: {errors[0][:150]}")


def frames(folder: Path, n: int = 3) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"f{i:03d}.png")
    return folder


def png16(path: Path) -> np.ndarray:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one): the file io16 exists for."""
    arr = np.random.default_rng(1).integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in arr)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = struct.pack(">IIBBBBB", arr.shape[1], arr.shape[0], 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return arr


def tiny_model(folder: Path) -> Path:
    import rdafnet

    rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(folder)
    return folder


def authors_file(path: Path) -> Path:
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import recipe_state_dict

    sd = {f"module.{k}": v for k, v in recipe_state_dict("single-stage").items()}
    torch.save({"epoch": 3000, "state_dict": sd}, path)
    return path


def check_none(tmp: Path) -> None:
    out = ok(["deblur", str(ROOT / "rdafnet" / "samples" / "gopro_blurry.png"), "-o", str(tmp / "restored")])
    assert (tmp / "restored" / "gopro_blurry.png").is_file(), out
    print("  the core restores the bundled sample")
    refused(["deblur", str(frames(tmp / "frames")), "-o", str(tmp / "clip.mp4")], "video")
    png16(tmp / "deep.png")
    refused(["deblur", str(tmp / "deep.png"), "-o", str(tmp / "out16")], "io16")
    refused(["export-onnx", str(tiny_model(tmp / "model")), str(tmp / "m.onnx")], "onnx")
    refused(["download", NAME], "download")
    res = subprocess.run(
        [sys.executable, "-c", "import rdafnet.weights.spandrel as s; s.install()"], capture_output=True, text=True
    )
    last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else ""
    assert res.returncode != 0 and "rdafnet[spandrel]" in last, res.stderr[-2000:]
    print(f"  refused, naming rdafnet[spandrel]: {last[:150]}")


def check_video(tmp: Path) -> None:
    import rdafnet.io

    ok(["deblur", str(frames(tmp / "frames")), "-o", str(tmp / "clip.mp4"), "--precision", "fp32"])
    info = rdafnet.io.probe(tmp / "clip.mp4")
    assert (info.width, info.height, info.frames) == (64, 48, 3), info
    print(f"  3 frames -> {tmp / 'clip.mp4'}: {info.width}x{info.height}, {info.frames} frames, {info.pix_fmt}")


def check_io16(tmp: Path) -> None:
    from rdafnet.io import read_image

    arr = png16(tmp / "deep.png")
    assert np.array_equal(read_image(tmp / "deep.png"), arr)
    ok(["deblur", str(tmp / "deep.png"), "-o", str(tmp / "out"), "--precision", "fp32", "--format", "tif"])
    back = read_image(tmp / "out" / "deep.tif")
    assert back.dtype == np.uint16 and back.shape == arr.shape, (back.dtype, back.shape)
    print("  16-bit RGB PNG read exactly, restored and written as a 16-bit TIFF")


def check_onnx(tmp: Path) -> None:
    import onnx

    ok(["export-onnx", str(tiny_model(tmp / "model")), str(tmp / "m.onnx")])
    model = onnx.load(tmp / "m.onnx")
    onnx.checker.check_model(model)
    print(f"  exported and checked: {[i.name for i in model.graph.input]} -> {[o.name for o in model.graph.output]}")


def check_download(tmp: Path) -> None:
    import gdown  # noqa: F401  (the extra's package: the download below goes through it)

    body = authors_file(tmp / "GoPro.pth").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook
            ok_path = self.path == f"/{NAME}/GoPro.pth"
            self.send_response(200 if ok_path else 404)
            self.send_header("Content-Length", str(len(body) if ok_path else 0))
            self.end_headers()
            if ok_path:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}"
        env = {"RDAFNET_CACHE": str(tmp / "cache")}
        ok(["download", NAME, "--mirror", mirror], env=env)
        print(f"  downloaded through gdown from a loopback mirror into {tmp / 'cache'}")
    finally:
        server.shutdown()
    env = {"RDAFNET_CACHE": str(tmp / "cache2")}
    ok(["download", NAME, "--from", str(tmp / "GoPro.pth")], env=env)
    ok(["info", NAME], env=env)
    print("  registered from a file with --from, and loaded by name")


def check_triton(tmp: Path) -> None:
    code = """
        import torch, torch.nn.functional as F
        from rdafnet.layers.triton_norm import instance_norm_act
        x = torch.randn(2, 37, 13, 21) * 2 + 3
        truth = F.leaky_relu(F.instance_norm(x.double(), eps=1e-5), 0.2)
        err = (instance_norm_act(x.clone(), eps=1e-5, slope=0.2).double() - truth).abs().max().item()
        assert err < 1e-4, err
        print(f"  Triton kernel (interpreter) vs float64 instance norm: max error {err:.1e}")
    """
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRITON_INTERPRET": "1"},
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    print(res.stdout.rstrip())


CHECKS = {
    "none": check_none,
    "download": check_download,
    "video": check_video,
    "io16": check_io16,
    "onnx": check_onnx,
    "triton": check_triton,
}

if __name__ == "__main__":
    extra = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RDAFNET_CACHE"] = str(Path(tmp) / "cache")  # nothing read from or left in the user's cache
        os.environ.pop("HF_HUB_OFFLINE", None)  # the checks reach only loopback servers; offline mode would hide them
        CHECKS[extra](Path(tmp))
    print(f"extra {extra}: ok")
