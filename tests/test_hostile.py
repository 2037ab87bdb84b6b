"""Hostile and unusual files, and nothing the user had is ever lost: outputs never replace an input or the
model being read whatever the flags, every output path is checked before the work, odd inputs are read
right or refused in one line."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import torch
from PIL import Image

import rdafnet
from rdafnet.cli import main


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    for n in "ab":
        Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(tmp_path / f"{n}.png")
    return tmp_path / "a.png", tmp_path / "b.png"


def _err(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("opt", ["--csv", "--sheet"])
def test_an_eval_output_naming_an_input_is_refused_even_with_overwrite(photos, capsys, opt):
    a, b = photos
    before = b.read_bytes()
    assert main(["eval", "--no-reference", str(a), str(b), opt, str(b), "--overwrite"]) == 2
    assert _err(capsys) == [f"error: {opt} {b} is one of the inputs; it would be replaced: name another file"]
    assert b.read_bytes() == before


def test_output_paths_are_checked_before_the_work(photos, tmp_path, capsys):
    a, _ = photos
    assert main(["eval", "--no-reference", str(a), "--csv", str(a / "x.csv")]) == 2
    assert _err(capsys) == [f"error: --csv {a / 'x.csv'} cannot be written: {a} is a file, not a folder"]
    assert main(["deblur", str(a), "-o", "-"]) == 2
    assert "rdafnet writes files, not a stream on stdout" in _err(capsys)[0]
    assert not (tmp_path / "-").exists()


def test_training_never_writes_over_the_model_it_starts_from(tmp_path, capsys):
    from test_training import _pairs_folder

    _pairs_folder(tmp_path / "pairs", n=2)
    for model, out in (("mine", "mine"), ("run/final", "run")):  # the model itself, or a run's own final/
        rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(tmp_path / model)
        config = (tmp_path / model / "config.json").read_bytes()
        args = ["train", "--data", str(tmp_path / "pairs"), "--from", str(tmp_path / model), "--steps", "1"]
        assert main([*args, "--crop", "32", "-o", str(tmp_path / out)]) == 2
        assert "would write over the model it starts from" in _err(capsys)[0]
        assert (tmp_path / model / "config.json").read_bytes() == config
    rdafnet.from_pretrained(tmp_path / "mine")  # still loads


def test_convert_keeps_the_folders_other_files(tmp_path, capsys):
    from helpers import recipe_state_dict

    pth = tmp_path / "GoPro.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in recipe_state_dict("single-stage").items()}}, pth)
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "README.md").write_text("my notes")
    assert main(["convert", str(pth), str(project)]) == 0
    assert (project / "README.md").read_text() == "my notes"
    assert rdafnet.from_pretrained(project).variant == "single-stage"
    assert main(["convert", str(pth), str(project)]) == 2  # now it holds a model: --overwrite to replace
    assert "already holds a model" in _err(capsys)[0]


def _png_declaring(path, w, h):
    """A tiny PNG file whose header declares w x h pixels (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def test_a_decompression_bomb_is_refused_in_one_line_and_the_folder_goes_on(tmp_path, capsys):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(photos / "real.png")
    bomb = _png_declaring(photos / "bomb.png", 60000, 60000)
    assert bomb.stat().st_size < 400
    assert main(["deblur", str(photos), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 1
    err = _err(capsys)
    assert len(err) == 1 and "declares 60000x60000 pixels (3600 MP)" in err[0] and "--max-pixels 3600000000" in err[0]
    assert (tmp_path / "out" / "real.png").exists()
    # the limit is an option: a real photo over it is read once allowed
    assert main(["deblur", str(photos / "real.png"), "-o", str(tmp_path / "o2"), "--max-pixels", "5000"]) == 1
    assert "--max-pixels 10000" in _err(capsys)[0]
    assert main(["deblur", str(photos / "real.png"), "-o", str(tmp_path / "o3"), "--max-pixels", "10000"]) == 0
    from rdafnet.io import max_pixels

    assert max_pixels() == 178_956_970  # the option lasts for its command only


def test_odd_arrays_and_names(tmp_path, capsys):
    pytest.importorskip("tifffile")
    import tifffile

    from rdafnet.io.image import read_image

    model = rdafnet.build("tiny", width=8, num_blocks=1).eval()
    rng = np.random.default_rng(0)
    native = rng.integers(0, 65536, (40, 48, 3), dtype=np.uint16)
    big = native.astype(">u2")
    np.testing.assert_array_equal(rdafnet.deblur(big, model), rdafnet.deblur(native, model))
    # a float RGB TIFF is restored and written back as float
    tifffile.imwrite(tmp_path / "f.tif", rng.random((40, 48, 3), dtype=np.float32), photometric="rgb")
    assert main(["deblur", str(tmp_path / "f.tif"), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 0
    back = read_image(tmp_path / "out" / "f.tif")
    assert back.dtype == np.float32 and back.shape == (40, 48, 3)
    # any name the file system takes: 244 bytes, and bytes that are not UTF-8 (kept in the CSV)
    names = [tmp_path / "x" / ("n" * 240 + ".png"), tmp_path / "x" / os.fsdecode(b"caf\xe9.png")]
    names[0].parent.mkdir()
    for p in names:
        Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(p)
    assert main(["deblur", str(tmp_path / "x"), "-o", str(tmp_path / "out2"), "--precision", "fp32"]) == 0
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == sorted(p.name for p in names)
    csv = tmp_path / "scores.csv"
    assert main(["eval", "--no-reference", str(tmp_path / "x"), "--csv", str(csv)]) == 0
    assert b"caf\xe9.png" in csv.read_bytes() and ("n" * 240 + ".png").encode() in csv.read_bytes()


def test_tiff_layouts_read_as_a_viewer_shows_them(tmp_path):
    pytest.importorskip("tifffile")
    import tifffile

    from rdafnet.io.image import ImageReadError, read_image

    gray = np.arange(48 * 40, dtype=np.uint16).reshape(40, 48).astype(np.uint8)
    tifffile.imwrite(tmp_path / "white.tif", gray, photometric="miniswhite")  # zero is white
    np.testing.assert_array_equal(read_image(tmp_path / "white.tif")[..., 0], 255 - gray)
    rgb = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")  # 8-bit CMYK: converted as Pillow does
    expected = np.asarray(Image.open(tmp_path / "cmyk.tif").convert("RGB"))
    np.testing.assert_array_equal(read_image(tmp_path / "cmyk.tif"), expected)
    tifffile.imwrite(tmp_path / "cmyk16.tif", np.zeros((40, 48, 4), np.uint16), photometric="separated")
    with pytest.raises(ImageReadError, match="16-bit SEPARATED TIFF"):
        read_image(tmp_path / "cmyk16.tif")


def test_optimized_models_save_pickle_and_reload(tmp_path):
    import io

    model = rdafnet.build("tiny", width=8, num_blocks=2).eval()
    x = torch.rand(1, 3, 64, 64)
    for conv in ("direct", "winograd"):
        fast = rdafnet.optimize(model, conv=conv)
        buf = io.BytesIO()
        torch.save(fast, buf)
        fresh = len(buf.getvalue())
        with torch.inference_mode():
            fast(torch.rand(1, 3, 256, 256))  # fills the scratch buffers
        buf = io.BytesIO()
        torch.save(fast, buf)  # was a TypeError once the model had run
        assert len(buf.getvalue()) == fresh  # scratch is not saved
        buf.seek(0)
        again = torch.load(buf, weights_only=False)
        with torch.no_grad():
            torch.testing.assert_close(again(x), fast(x), rtol=0, atol=0)
        fast.save_pretrained(tmp_path / conv)  # the original layout: loads as any saved model
        with torch.no_grad():
            torch.testing.assert_close(rdafnet.from_pretrained(tmp_path / conv)(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="Save the model before rdafnet.optimize"):
        rdafnet.optimize(model, precision="bf16").save_pretrained(tmp_path / "bf16")


def test_a_config_cannot_demand_unbounded_memory(tmp_path, capsys):
    import json

    rdafnet.build("tiny", width=8, num_blocks=1).save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config.update(width=1024, num_blocks=64)
    del config["weights_sha256"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json: the config describes a RDAFNet of [\d,]+ M parameters, over"):
        rdafnet.from_pretrained(tmp_path / "m")


def test_weight_files_that_are_not_what_they_claim_are_named(tmp_path):
    import json

    from helpers import recipe_state_dict
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "list.safetensors", metadata={"rdafnet.config": "[1, 2]"})
    save_file({"w": torch.zeros(2)}, tmp_path / "bad.safetensors", metadata={"rdafnet.config": "{no"})
    official = recipe_state_dict("single-stage")
    torch.save({"state_dict": {**official, "second.2.extra_1.0.weight": torch.zeros(3)}}, tmp_path / "fork.pth")
    torch.save(
        {"state_dict": {k: v for k, v in official.items() if not k.startswith("second.2.")}}, tmp_path / "gap.pth"
    )
    no_blocks = {k: v for k, v in official.items() if not k.startswith("second.") or k.startswith("second.0.")}
    torch.save({"state_dict": no_blocks}, tmp_path / "none.pth")
    (tmp_path / "page.pth").write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    (tmp_path / "config.json").write_text(json.dumps([1, 2]))
    cases = {
        "list.safetensors": "rdafnet.config holds a JSON list, not a model config object",
        "bad.safetensors": "rdafnet.config is not JSON",
        "fork.pth": "not the authors' RDAFNet layout \\(key 'extra_1.0.weight'\\)",
        "gap.pth": "not the authors' RDAFNet layout \\(its blocks are second.\\[3, 4, 5\\]",
        "none.pth": "not the authors' RDAFNet layout",
        "page.pth": "is an HTML/XML page, not a checkpoint",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message) as info:
            rdafnet.from_pretrained(tmp_path / name)
        assert name in str(info.value)


def test_scratch_memory_stays_bounded_across_input_sizes():
    from rdafnet.layers import FusedRDAFB

    fast = rdafnet.optimize(rdafnet.build("tiny", width=8, num_blocks=2).eval())
    ws = next(m for m in fast.modules() if isinstance(m, FusedRDAFB)).workspace

    def held() -> int:
        return sum(buf.numel() * buf.element_size() for _, buf in ws._buffers.values())

    with torch.no_grad():
        fast(torch.rand(1, 3, 128, 128))
        largest = held()
        for size in (64, 96, 32, 128, 80):
            fast(torch.rand(1, 3, size, size))
            assert held() <= largest


def test_a_tiff_declaring_a_huge_size_is_refused_before_allocation(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    from rdafnet.io.image import ImageReadError, read_image

    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:  # rewrite the width and height tags in place: 60000 x 60000
        for name in ("ImageWidth", "ImageLength"):
            tag = tif.pages[0].tags[name]
            fmt = {3: "<H", 4: "<I"}[tag.dtype]
            data[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, 60000)
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="declares 60000x60000 pixels"):
        read_image(path)
