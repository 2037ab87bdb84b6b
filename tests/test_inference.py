"""deblur(): input types, tiling exactness and tolerance, local statistics, CLI behaviour."""

import numpy as np
import pytest
import torch
from PIL import Image

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.evaluation.metrics import psnr
from rdafnet.inference.tiling import restore_tensor
from rdafnet.io.image import read_image, write_image
from rdafnet.layers.norm import instance_norm


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return rdafnet.build("tiny", width=8, num_blocks=2).eval()


def _rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_numpy_types_round_trip(model):
    u8 = _rgb(21, 33)
    ref = rdafnet.deblur(u8, model)
    assert ref.dtype == np.uint8 and ref.shape == u8.shape
    f32 = rdafnet.deblur(u8.astype(np.float32) / 255, model)
    assert f32.dtype == np.float32 and f32.shape == u8.shape and 0 <= f32.min() and f32.max() <= 1
    assert np.abs(f32 * 255 - ref).max() <= 0.5 + 1e-3  # same result, different quantisation
    u16 = rdafnet.deblur(u8.astype(np.uint16) * 257, model)
    assert u16.dtype == np.uint16 and np.abs(u16 / 257.0 - ref).max() <= 0.51


def test_grayscale_and_alpha(model):
    gray = _rgb()[..., 0]
    out = rdafnet.deblur(gray, model)
    assert out.shape == gray.shape and out.dtype == np.uint8
    assert rdafnet.deblur(gray[..., None], model).shape == gray[..., None].shape
    rgba = np.concatenate([_rgb(), np.arange(600, dtype=np.uint8).reshape(20, 30, 1)], axis=2)
    out = rdafnet.deblur(rgba, model)
    assert out.shape == rgba.shape and np.array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], rdafnet.deblur(rgba[..., :3], model))


def test_pil_tensor_and_path(model, tmp_path):
    u8 = _rgb(16, 24)
    ref = rdafnet.deblur(u8, model)
    for mode in ("RGB", "L", "RGBA"):
        im = Image.fromarray(u8).convert(mode)
        out = rdafnet.deblur(im, model)
        assert isinstance(out, Image.Image) and out.mode == mode and out.size == im.size
    np.testing.assert_array_equal(np.asarray(rdafnet.deblur(Image.fromarray(u8), model)), ref)
    t = torch.from_numpy(u8).permute(2, 0, 1).float() / 255
    out3 = rdafnet.deblur(t, model)
    assert out3.shape == t.shape and out3.dtype == t.dtype
    out4 = rdafnet.deblur(torch.stack([t, t.flip(-1)]), model)
    assert out4.shape == (2, 3, 16, 24)
    torch.testing.assert_close(out4[0], out3)
    write_image(tmp_path / "a.png", u8)
    np.testing.assert_array_equal(rdafnet.deblur(tmp_path / "a.png", model), ref)


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.full((4, 4, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.zeros((4, 4, 3), np.int64), "dtype"),
        ("not-a-file.png", "does not exist"),
    ],
)
def test_bad_inputs(model, bad, match):
    with pytest.raises(ValueError, match=match):
        rdafnet.deblur(bad, model)


@pytest.mark.parametrize(
    "size,tile,overlap,batch",
    [((100, 130), 48, 24, 4), ((64, 200), 64, 32, 1), ((37, 53), 32, 16, 3), ((30, 30), 64, 16, 2)],
)
def test_tiling_is_exact_for_a_model_without_instance_norm(size, tile, overlap, batch):
    torch.manual_seed(0)
    layers = [
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.GELU(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.GELU(),
        torch.nn.Conv2d(8, 3, 3, padding=1),
    ]
    net = torch.nn.Sequential(*layers).double().eval()  # receptive-field radius 3 <= overlap // 4
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    full = restore_tensor(x, net)
    tiled = restore_tensor(x, net, tile=tile, overlap=overlap, batch_size=batch)
    torch.testing.assert_close(tiled, full, rtol=0, atol=1e-12)


def test_tiled_rdafnet_agrees_with_full_frame(model):
    # instance norm per tile sees other statistics: agreement within a tolerance, not exactly
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    full = restore_tensor(x, model)
    tiled = restore_tensor(x, model, tile=64, overlap=32)
    assert (tiled - full).abs().mean() < 0.02
    assert not torch.equal(tiled, full)


def test_out_of_memory_halves_the_tile_batch():
    calls = []

    class Flaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            calls.append(len(x))
            if len(x) > 1:
                raise torch.cuda.OutOfMemoryError("simulated")
            return x * self.w

    x = torch.rand(1, 3, 64, 64)
    out = restore_tensor(x, Flaky(), tile=32, overlap=8, batch_size=4)
    assert calls[:3] == [4, 2, 1]
    torch.testing.assert_close(out, x)


def test_local_statistics_norm():
    x = torch.randn(1, 2, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(instance_norm(x, window=16), torch.nn.functional.instance_norm(x))
    y = instance_norm(x, window=5, eps=0)
    ref = torch.empty_like(x)  # float64 loop: the 5x5 window clamped inside the image
    for i in range(9):
        for j in range(11):
            i0, j0 = min(max(i - 2, 0), 9 - 5), min(max(j - 2, 0), 11 - 5)
            win = x[..., i0 : i0 + 5, j0 : j0 + 5]
            ref[..., i, j] = (x[..., i, j] - win.mean((-2, -1))) / win.var((-2, -1), unbiased=False).sqrt()
    torch.testing.assert_close(y, ref, rtol=1e-9, atol=1e-9)


def test_set_norm_window(model):
    x = torch.rand(1, 3, 64, 64)
    base = model(x)
    rdafnet.set_norm_window(model, 128)  # window covers the image: unchanged
    torch.testing.assert_close(model(x), base)
    rdafnet.set_norm_window(model, 16)
    assert not torch.allclose(model(x), base)
    rdafnet.set_norm_window(model, None)
    torch.testing.assert_close(model(x), base)


def test_cli_folder_with_a_corrupt_file(model, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_image(src / "a.png", _rgb(20, 24, 1))
    write_image(src / "b.jpg", _rgb(18, 26, 2))
    write_image(src / "c16.png", (_rgb(10, 12, 3).astype(np.uint16) * 257))
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    model.save_pretrained(tmp_path / "model")
    args = [
        "deblur",
        str(src),
        "-o",
        str(out),
        "--model",
        str(tmp_path / "model"),
        "--device",
        "cpu",
        "--precision",
        "fp32",
    ]
    assert cli(args) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c16.png"]  # nothing partial left
    assert read_image(out / "c16.png").dtype == np.uint16
    np.testing.assert_array_equal(read_image(out / "a.png"), rdafnet.deblur(_rgb(20, 24, 1), model))
    before = (out / "a.png").stat().st_mtime_ns
    (src / "broken.png").unlink()
    assert cli(args) == 0 and (out / "a.png").stat().st_mtime_ns == before  # skipped, not rewritten
    assert "3 skipped" in capsys.readouterr().out
    assert cli(args + ["--overwrite", "--tile", "16", "--overlap", "4"]) == 0
    assert "3 restored" in capsys.readouterr().out
    exact = read_image(out / "a.png")
    assert cli(args + ["--overwrite", "--precision", "bf16"]) == 0
    # bf16 ran (outputs differ) and stays close to fp32 even for this untrained model
    assert 30 < psnr(read_image(out / "a.png"), exact) < 100


def test_cli_never_replaces_an_input_or_merges_two_inputs(model, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_image(tmp_path / "a" / "x.png", _rgb(20, 24, 1))
    write_image(tmp_path / "b" / "x.png", _rgb(20, 24, 2))
    model.save_pretrained(tmp_path / "model")
    common = ["--model", str(tmp_path / "model"), "--device", "cpu", "--overwrite"]
    before = (tmp_path / "a" / "x.png").read_bytes()
    assert cli(["deblur", str(tmp_path / "a"), "-o", str(tmp_path / "a"), *common]) == 2
    assert "replace the input itself" in capsys.readouterr().err
    assert (tmp_path / "a" / "x.png").read_bytes() == before
    out = tmp_path / "out"
    assert cli(["deblur", str(tmp_path / "a" / "x.png"), str(tmp_path / "b"), "-o", str(out), *common]) == 2
    err = capsys.readouterr().err
    assert "would both be written to" in err and str(tmp_path / "b" / "x.png") in err
    assert not out.exists()  # refused before anything was written
    # one file named twice (its folder and itself) is restored once
    assert cli(["deblur", str(tmp_path / "a"), str(tmp_path / "a" / "x.png"), "-o", str(out), *common]) == 0
    assert "1 restored" in capsys.readouterr().out


def test_exif_orientation_is_applied(tmp_path):
    arr = _rgb(10, 20)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "r.jpg").shape == (20, 10, 3)


def test_tensor_contract_uint8_and_range(model):
    u8 = _rgb(16, 24)
    ref = rdafnet.deblur(u8, model)  # the numpy path
    t8 = torch.from_numpy(u8).permute(2, 0, 1).contiguous()
    out = rdafnet.deblur(t8, model)
    assert out.dtype == torch.uint8 and out.shape == t8.shape
    np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), ref)  # uint8 round-trips like numpy
    assert rdafnet.deblur(t8[None], model).shape == (1, 3, 16, 24)
    for bad, match in [
        (t8.float(), r"must lie in \[0, 1\].*uint8"),
        (t8.float() / 255 - 0.5, r"\[0, 1\]"),
        (t8.to(torch.int32), "unsupported tensor dtype torch.int32"),
    ]:
        with pytest.raises(ValueError, match=match):
            rdafnet.deblur(bad, model)


def test_deblur_leaves_the_callers_model_as_it_was(model):
    m = rdafnet.build("tiny", width=8, num_blocks=1)
    m.train()
    x = torch.rand(3, 16, 16)
    a = rdafnet.deblur(x, m, device="cpu")
    assert m.training and next(m.parameters()).device.type == "cpu"  # training mode restored
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(a, m(x[None])[0])  # and it ran in eval mode


def test_cli_batch_goes_on_past_bad_files_and_stops_when_doomed(model, tmp_path, capsys, monkeypatch):
    import errno

    from rdafnet.cli import deblur as deblur_cmd

    src, out = tmp_path / "in", tmp_path / "out"
    write_image(src / "good.png", _rgb(20, 24, 1))
    write_image(src / "taken.png", _rgb(20, 24, 2))
    (out / "taken.png").mkdir(parents=True)  # an output name that is a folder
    Image.fromarray(np.random.default_rng(0).random((8, 8)).astype(np.float32)).save(src / "float.tif")
    (tmp_path / "noext").write_bytes((src / "good.png").read_bytes()[:40])  # truncated, no extension
    model.save_pretrained(tmp_path / "model")
    common = ["-o", str(out), "--model", str(tmp_path / "model"), "--device", "cpu", "--overwrite"]
    assert cli(["deblur", str(src), str(tmp_path / "noext"), *common]) == 1
    err = capsys.readouterr().err
    assert "taken.png" in err and "noext" in err and err.count("error: ") == 2, err
    assert (out / "good.png").is_file()
    back = read_image(out / "float.tif")  # a float32 TIFF comes back float32
    assert back.dtype == np.float32 and back.shape == (8, 8, 1)
    # argument checks come first: nothing is loaded or written for a bad command
    for bad, msg in [
        (["--tile", "15"], "at least 16"),
        (["--tile", "33"], "must be even"),
        (["--batch-size", "0"], "at least 1"),
        (["--norm-window", "-5"], "at least 2"),
    ]:
        with pytest.raises(SystemExit):
            cli(["deblur", str(src), *common, *bad])
        assert msg in capsys.readouterr().err
    assert cli(["deblur", str(src), *common, "--tile", "32", "--overlap", "32"]) == 2
    assert "--overlap (32) must be smaller than --tile (32)" in capsys.readouterr().err
    assert cli(["deblur", str(src), "-o", str(src / "good.png"), "--model", str(tmp_path / "model")]) == 2
    assert "is a file" in capsys.readouterr().err
    # a full disk dooms every later image: one line, exit 2, no traceback
    calls = []

    def full(path, *a, **k):
        calls.append(path)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("rdafnet.io.image.write_image", full)
    assert cli(["deblur", str(src), *common]) == 2
    err = capsys.readouterr().err
    assert len(calls) == 1 and err.count("error: ") == 1 and "No space left" in err and "Traceback" not in err
    assert deblur_cmd._DOOMED >= {errno.ENOSPC}


def test_memory_guard_tiles_automatically_and_bad_tile_plans_are_refused(model):
    from rdafnet.inference.tiling import auto_overlap, auto_tile, frame_bytes, memory_budget, tile_work

    x = torch.rand(1, 3, 300, 400)
    need = frame_bytes(model, 300, 400)
    assert need == frame_bytes(model, 150, 400) * 2 > 0 and memory_budget(torch.device("cpu")) > 0
    assert auto_tile(model, 300, 400, batch_size=4, budget=need) is None  # fits: whole frame
    tile = auto_tile(model, 300, 400, batch_size=4, budget=need // 2)
    assert tile == 128 or frame_bytes(model, tile, tile, 4) <= need // 2
    with pytest.warns(RuntimeWarning, match=r"restoring it in \d+ px tiles"):
        guarded = restore_tensor(x, model, max_memory=need // 2)
    torch.testing.assert_close(guarded, restore_tensor(x, model, tile=tile, overlap=auto_overlap(tile)), rtol=0, atol=0)
    # a 12 MP photo where 1024 px tiles fit: the plan with the least work, not the largest tile
    big = frame_bytes(model, 1024, 1024, 4)
    chosen = auto_tile(model, 3000, 4000, batch_size=4, budget=big)
    options = [t for t in (1024, 768, 512, 384, 256, 128) if frame_bytes(model, t, t, 4) <= big]
    assert all(
        tile_work(3000, 4000, chosen, auto_overlap(chosen)) <= tile_work(3000, 4000, t, auto_overlap(t))
        for t in options
    )
    assert tile_work(3000, 4000, chosen, auto_overlap(chosen)) < tile_work(3000, 4000, 1024, 256)  # the old plan
    assert auto_overlap(1024) == 64 and auto_overlap(128) == 32
    assert frame_bytes(torch.nn.Conv2d(3, 3, 1), 10, 10) is None  # no estimate, no guard
    with pytest.raises(ValueError, match=r"plans \d+ tiles, \d+x the work"):
        restore_tensor(x, model, tile=64, overlap=63)


def test_pil_modes_round_trip_or_are_refused(model):
    rgb = _rgb(16, 24)
    ref16 = rdafnet.deblur((rgb[..., 0].astype(np.uint16) * 257), model)
    for mode in ("RGB", "L", "RGBA", "LA", "CMYK", "YCbCr", "P"):
        im = Image.fromarray(rgb).convert(mode)
        out = rdafnet.deblur(im, model)
        assert out.mode == mode and out.size == im.size, mode
    p = Image.fromarray(rgb).convert("P")
    assert rdafnet.deblur(p, model).getpalette() == p.getpalette()  # the image's own palette
    i16 = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    assert i16.mode == "I;16"
    out = rdafnet.deblur(i16, model)
    assert out.mode == "I;16" and np.array_equal(np.asarray(out), ref16)  # 16-bit stays 16-bit
    out = rdafnet.deblur(i16.convert("I"), model)
    assert out.mode == "I" and np.array_equal(np.asarray(out), ref16.astype(np.int32))
    f = Image.fromarray(rgb[..., 0].astype(np.float32) / 255)
    out = rdafnet.deblur(f, model)
    assert out.mode == "F" and 0 <= np.asarray(out).min() and np.asarray(out).max() <= 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rdafnet.deblur(Image.fromarray(rgb[..., 0].astype(np.float32)), model)  # 0..255 floats
    with pytest.raises(ValueError, match="mode 'HSV' is not supported"):
        rdafnet.deblur(Image.fromarray(rgb).convert("HSV"), model)


def test_animations_are_refused_not_truncated(model, tmp_path):
    frames = [Image.fromarray(_rgb(16, 24, k)) for k in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="3 frames"):
        rdafnet.deblur(tmp_path / "anim.gif", model)
    with pytest.raises(ValueError, match="3 frames"):
        rdafnet.deblur(Image.open(tmp_path / "anim.gif"), model)


def test_cli_keeps_icc_profile_and_exif(model, tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees on display
    (tmp_path / "in").mkdir()
    Image.fromarray(_rgb(16, 24)).save(tmp_path / "in" / "photo.jpg", icc_profile=icc, exif=exif.tobytes())
    model.save_pretrained(tmp_path / "model")
    assert cli(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "model")]) == 0
    with Image.open(tmp_path / "out" / "photo.jpg") as out:
        assert out.info.get("icc_profile") == icc
        assert out.getexif()[0x010F] == "CameraMaker" and out.getexif()[0x0112] == 1
        assert out.size == (16, 24)  # the orientation was applied once, and reset


def test_cli_output_format_and_leftovers_of_a_killed_run(model, tmp_path, capsys):
    write_image(tmp_path / "in" / "a.png", _rgb(20, 24, 1))
    write_image(tmp_path / "in" / "b.png", _rgb(20, 24, 2))
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.png.k3j2x9.png.tmp").write_bytes(b"half a file")  # what a killed write leaves
    model.save_pretrained(tmp_path / "model")
    args = ["deblur", str(tmp_path / "in"), "-o", str(out), "--model", str(tmp_path / "model")]
    assert cli(args) == 0 and "2 restored" in capsys.readouterr().out
    assert cli(args + ["--format", "jpg"]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.jpg", "a.png", "b.jpg", "b.png"]
    with Image.open(out / "a.jpg") as im:
        assert im.format == "JPEG"


def test_memory_budget_where_the_system_says_little(monkeypatch):
    # macOS has no /proc/meminfo; Windows has no os.sysconf either: a budget all the same, never an error
    import os

    from rdafnet.inference import tiling

    def no_proc(*a, **k):
        raise FileNotFoundError("/proc/meminfo")

    monkeypatch.setattr(tiling, "open", no_proc, raising=False)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

    def macos_sysconf(name):  # like os.sysconf: ValueError for a name the system does not know
        known = {"SC_PHYS_PAGES": pages, "SC_PAGE_SIZE": 1}
        if name not in known:
            raise ValueError(f"unrecognized configuration name {name}")
        return known[name]

    monkeypatch.setattr(os, "sysconf", macos_sysconf)
    assert tiling.memory_budget(torch.device("cpu")) == pages // 2  # macOS: no available-pages count
    monkeypatch.delattr(os, "sysconf")
    assert tiling.memory_budget(torch.device("cpu")) == tiling.UNKNOWN_RAM // 2


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_an_optimized_model_runs_inside_and_outside_inference_mode(precision):
    img = read_image(rdafnet.SAMPLE_IMAGE)[:96, :128]
    try:
        fast = rdafnet.optimize(rdafnet.from_pretrained(), precision=precision)
    except ValueError as exc:  # int8 where the CPU has no VNNI/AMX, bf16 where it is not native
        pytest.skip(str(exc))
    with torch.inference_mode():
        inside = rdafnet.deblur(img, fast)
    outside = rdafnet.deblur(img, fast)  # the scratch buffers made inside are not written outside
    with torch.inference_mode():
        again = rdafnet.deblur(img, fast, tile=64)
    tiled = rdafnet.deblur(img, fast, tile=64)
    np.testing.assert_array_equal(inside, outside)
    np.testing.assert_array_equal(again, tiled)
