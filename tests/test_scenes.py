"""Lossless image formats in every pair layout, scenes, held-out-scene validation, and the time bound."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import rdafnet
from rdafnet.data import GOPRO_TEST_SEQUENCES, PairedImages, check_training_scenes, find_pairs, scene_of
from rdafnet.io.image import IMAGE_SUFFIXES, read_image, write_image
from rdafnet.train import TrainConfig, Trainer

LOSSLESS = (".png", ".bmp", ".tif", ".webp", ".ppm", ".tga", ".qoi", ".sgi")


def _image(seed, size=40):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", LOSSLESS)
def test_lossless_formats_round_trip_exactly(tmp_path, suffix):
    assert suffix in IMAGE_SUFFIXES
    img = _image(0)
    write_image(tmp_path / f"x{suffix}", img)
    assert np.array_equal(read_image(tmp_path / f"x{suffix}"), img)
    # files written by other tools too (Pillow's WebP is lossy unless asked)
    Image.fromarray(img).save(tmp_path / f"pil{suffix}", **({"lossless": True} if suffix == ".webp" else {}))
    assert np.array_equal(read_image(tmp_path / f"pil{suffix}"), img)


def _webp_pairs(folder, names, seed=0):
    for k, name in enumerate(names):
        for part in ("blur", "sharp"):
            (folder / part).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_image(seed + 2 * k + (part == "sharp"))).save(
                folder / part / f"{name}.webp", lossless=True
            )
    return folder


def test_webp_pairs_in_all_three_layouts(tmp_path):
    flat = _webp_pairs(tmp_path / "flat", ["a", "b"])
    gopro = tmp_path / "gopro" / "train"
    _webp_pairs(gopro / "GOPR0001_11_00", ["000001", "000002"], seed=10)
    _webp_pairs(gopro / "GOPR0002_11_00", ["000001"], seed=20)
    listing = tmp_path / "list.txt"
    listing.write_text("flat/blur/a.webp flat/sharp/a.webp\n")
    assert len(find_pairs(flat)) == 2 and len(find_pairs(tmp_path / "gopro")) == 3 and len(find_pairs(listing)) == 1
    for root in (flat, tmp_path / "gopro", listing):
        ds = PairedImages.from_path(root, crop=None, augment=False)
        for i, (b, s) in enumerate(ds.pairs):
            x, y = ds[i]
            assert torch.equal(x, torch.from_numpy(np.array(Image.open(b))).permute(2, 0, 1) / 255.0)
            assert torch.equal(y, torch.from_numpy(np.array(Image.open(s))).permute(2, 0, 1) / 255.0)
    assert [scene_of(b) for b, _ in find_pairs(tmp_path / "gopro")] == ["GOPR0001_11_00"] * 2 + ["GOPR0002_11_00"]


def test_the_real_webp_scene_reads_pixel_exact(data_dir):
    pairs = find_pairs(data_dir / "gopro_train_GOPR0372_07_00")
    assert len(pairs) == 50 and {scene_of(b) for b, _ in pairs} == {"GOPR0372_07_00"}
    blur = read_image(pairs[0][0])
    assert blur.shape == (720, 1280, 3) and blur.dtype == np.uint8
    assert np.array_equal(blur, np.asarray(Image.open(pairs[0][0]).convert("RGB")))


def test_scenes_and_the_test_sequence_guard():
    assert scene_of("data/gopro_train_pairs/blur/GOPR0374_11_00_st_frame-802_n_avg-10.png") == "GOPR0374_11_00"
    assert scene_of("GOPRO/test/GOPR0384_11_00/blur/000001.png") == "GOPR0384_11_00"
    assert scene_of("my_data/street/blur/0001.png") == "street"
    assert len(GOPRO_TEST_SEQUENCES) == 11
    check_training_scenes([("x/GOPR0374_11_00/blur/1.png", "x/GOPR0374_11_00/sharp/1.png")])
    with pytest.raises(ValueError, match=r"GoPro test sequences \['GOPR0396_11_00'\].*--val"):
        check_training_scenes(
            [("gopro_dev/blur/GOPR0396_11_00-000001.png", "gopro_dev/sharp/GOPR0396_11_00-000001.png")]
        )


def _scenes(root):
    """Two tiny scenes of synthetic pairs, in the GoPro layout (made once per folder)."""
    if root.is_dir():
        return root
    from skimage import data

    from rdafnet.data import synthetic_blur

    photos = {"GOPR1111_11_00": [data.astronaut(), data.coffee()], "GOPR2222_11_00": [data.chelsea()]}
    for scene, imgs in photos.items():
        for k, photo in enumerate(imgs):
            sharp = np.ascontiguousarray(photo[::4, ::4][:48, :48])
            blur = synthetic_blur(sharp, np.random.default_rng(k), max_length=6, noise_p=0, jpeg_p=0)
            write_image(root / scene / "blur" / f"{k}.png", blur)
            write_image(root / scene / "sharp" / f"{k}.png", sharp)
    return root


def _trainer(tmp_path, out, **kw):
    root = _scenes(tmp_path / "scenes")
    torch.manual_seed(0)
    train = PairedImages(find_pairs(root / "GOPR1111_11_00"), crop=32, seed=1)
    cfg = TrainConfig(**{"steps": 4, "batch_size": 2, "lr": 1e-3, "grad_clip": 1.0, "val_every": 2, **kw})
    return Trainer(rdafnet.build("tiny", width=8, num_blocks=1), train, tmp_path / out, cfg, val_pairs=find_pairs(root))


def test_validation_reports_held_out_scenes_and_selects_on_them(tmp_path):
    tr = _trainer(tmp_path, "run")
    metrics = tr.fit(progress=False)
    assert set(metrics) >= {"val_gain", "val_gain_heldout", "gain/GOPR2222_11_00", "gain/GOPR1111_11_00 (seen)"}
    rows = list(csv.DictReader((tmp_path / "run" / "val.csv").open()))
    assert len(rows) == 2 * 3  # two validations of three frames
    last = [r for r in rows if r["step"] == "4"]
    held = [float(r["gain"]) for r in last if r["held_out"] == "True"]
    assert [r["scene"] for r in last if r["held_out"] == "True"] == ["GOPR2222_11_00"]
    assert metrics["val_gain_heldout"] == pytest.approx(np.mean(held))
    assert metrics["gain/GOPR2222_11_00"] == pytest.approx(np.mean(held))
    seen = [float(r["psnr"]) - float(r["psnr_blur"]) for r in last if r["held_out"] == "False"]
    assert metrics["gain/GOPR1111_11_00 (seen)"] == pytest.approx(np.mean(seen))
    # best/ is the step whose held-out gain was highest
    by_step = {
        s: np.mean([float(r["gain"]) for r in rows if r["step"] == s and r["held_out"] == "True"]) for s in ("2", "4")
    }
    best = json.loads((tmp_path / "run" / "best" / "training.json").read_text())
    assert str(best["step"]) == max(by_step, key=by_step.get)
    assert "val_gain_heldout" in (tmp_path / "run" / "log.csv").read_text().splitlines()[0]


def test_trainer_refuses_gopro_test_sequences(tmp_path):
    root = _scenes(tmp_path / "scenes")
    (root / "GOPR1111_11_00").rename(root / "GOPR0410_11_00")
    with pytest.raises(ValueError, match="GOPR0410_11_00"):
        Trainer(
            rdafnet.build("tiny", width=8, num_blocks=1),
            PairedImages(find_pairs(root), crop=32),
            tmp_path / "out",
            TrainConfig(steps=1),
        )


def test_max_minutes_stops_cleanly_and_a_rerun_resumes(tmp_path):
    tr = _trainer(tmp_path, "timed", steps=1000, val_every=1000, max_minutes=1e-9, ckpt_every=1000, ckpt_minutes=None)
    metrics = tr.fit(progress=False)
    assert tr.step == 0 and "val_gain_heldout" in metrics  # out of time at once: validated, written
    for name in ("best", "final"):
        assert (tmp_path / "timed" / name / "model.safetensors").exists()
    # a run cut by the clock keeps its steps in the checkpoint, and the same command goes on from there
    tr = _trainer(tmp_path, "timed2", steps=1000, val_every=1000, max_minutes=0.02, ckpt_every=1000, ckpt_minutes=None)
    tr.fit(progress=False)
    assert 0 < tr.step < 1000
    state = torch.load(tmp_path / "timed2" / "checkpoint.pt", weights_only=True)
    assert state["step"] == tr.step
    again = _trainer(tmp_path, "timed2", steps=tr.step + 2, val_every=1000, ckpt_every=1000, ckpt_minutes=None)
    again.fit(progress=False)
    assert again.step == tr.step + 2
    final = json.loads((tmp_path / "timed2" / "final" / "training.json").read_text())
    assert final["step"] == tr.step + 2


def test_checkpoints_by_wall_time(tmp_path):
    # ckpt_every never fires here; ckpt_minutes=0 writes after every step
    tr = _trainer(tmp_path, "ckpt", steps=3, val_every=1000, ckpt_every=1000, ckpt_minutes=0)
    saved = []
    original = tr.save_checkpoint
    tr.save_checkpoint = lambda: (saved.append(tr.step), original())
    tr.fit(progress=False)
    assert saved == [1, 2, 3]


def test_cli_max_minutes(tmp_path, capsys):
    from rdafnet.cli import main

    root = _scenes(tmp_path / "scenes")
    args = [
        "train",
        "--data",
        str(root / "GOPR1111_11_00"),
        "--val",
        str(root),
        "--variant",
        "tiny",
        "--width",
        "8",
        "--blocks",
        "1",
        "-o",
        str(tmp_path / "out"),
        "--steps",
        "100000",
        "--crop",
        "32",
        "--batch-size",
        "2",
        "--max-minutes",
        "0.01",
        "--threads",
        "1",
    ]
    assert main(args) == 0
    assert "--max-minutes 0.01 reached" in capsys.readouterr().out
    assert (tmp_path / "out" / "best" / "model.safetensors").exists()
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()
    with pytest.raises(SystemExit):
        main([*args[:-4], "--max-minutes", "-1"])
    assert "positive number of minutes" in capsys.readouterr().err


def test_worker_processes_give_the_same_batches_and_weights(tmp_path):
    from safetensors.torch import load_file

    finals = []
    for workers in (0, 2):
        tr = _trainer(tmp_path, f"w{workers}", steps=3, val_every=1000, num_workers=workers)
        if workers == 0:
            batches = [tr.batches[k] for k in range(3)]
        else:  # the loader yields exactly the batches of the steps, in order
            tr.step = 1
            got = list(tr._loader())
            assert len(got) == 2 and all(
                torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, batches[1:], strict=True)
            )
            tr.step = 0
        tr.fit(progress=False)
        finals.append(load_file(tmp_path / f"w{workers}" / "final" / "model.safetensors"))
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_a_checkpoint_from_before_the_held_out_criterion_restarts_best_selection(tmp_path):
    tr = _trainer(tmp_path, "old", steps=2, val_every=1000)
    tr.fit(progress=False)
    state = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True)
    assert "best_score" in state
    state["best"] = 25.0  # the old layout: a PSNR under "best"
    del state["best_score"]
    torch.save(state, tmp_path / "old" / "checkpoint.pt")
    again = _trainer(tmp_path, "old", steps=4, val_every=1000)
    again.fit(progress=False)  # its last step validates and must write best/ anew
    assert json.loads((tmp_path / "old" / "best" / "training.json").read_text())["step"] == 4
