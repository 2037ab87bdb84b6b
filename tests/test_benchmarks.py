"""``eval --data`` reads the benchmarks as distributed and scores what their papers score: GOPRO_Large's
test/ split with blur/ frames, HIDE's subsets against GT/, RealBlur's lists (ground truth first), MPRNet's
input/ + target/; each PSNR/SSIM equals scikit-image's on the restoration written to --out."""

import csv

import numpy as np
import pytest
from helpers import ROOT
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.data.benchmarks import find_benchmark
from rdafnet.io.image import read_image, write_image

SAMPLE = read_image(ROOT / "rdafnet" / "samples" / "gopro_blurry.png")


def _pair(blur_path, sharp_path, seed):  # sharp_path None: the blurry frame alone
    """A sharp crop of the sample and a blurred copy (a horizontal box blur), 24x32."""
    y, x = 200 + 13 * seed, 300 + 29 * seed
    sharp = SAMPLE[y : y + 24, x : x + 32]
    blur = np.mean([np.roll(sharp, s, axis=1) for s in range(-2, 3)], axis=0).round().astype(np.uint8)
    write_image(blur_path, blur)
    if sharp_path is not None:
        write_image(sharp_path, sharp)


def _gopro(root):
    """GOPRO_Large as distributed: train/ and test/, each sequence with blur/, blur_gamma/ and sharp/."""
    n = 0
    for split, seqs in (("train", ["GOPR0372_07_00", "GOPR0374_11_00"]), ("test", ["GOPR0384_11_00"])):
        for seq in seqs:
            for i in (1, 2):
                d = root / split / seq
                _pair(d / "blur" / f"{i:06d}.png", d / "sharp" / f"{i:06d}.png", n)
                _pair(d / "blur_gamma" / f"{i:06d}.png", None, n + 1)
                n += 1
    return root


def _hide(root):
    for i, (subset, name) in enumerate([("test-long-shot", "1fromGOPR0950.png"), ("test-close-ups", "2fromGO.png")]):
        _pair(root / "test" / subset / name, root / "GT" / name, i)
    _pair(root / "train" / "9fromX.png", root / "GT" / "9fromX.png", 5)  # the training frames: never read
    return root


def _realblur(root):
    lines = []
    for i in (1, 2):
        gt, blur = (
            f"RealBlur-J_ECC_IMCORR_centroid_itensity_ref/scene230/gt/gt_{i}.png",
            f"RealBlur-J_ECC_IMCORR_centroid_itensity_ref/scene230/blur/blur_{i}.png",
        )
        _pair(root / blur, root / gt, i)
        lines.append(f"{gt} {blur}")  # RealBlur's order: the ground truth first
    (root / "RealBlur_J_test_list.txt").write_text("\n".join(lines) + "\n")
    return root / "RealBlur_J_test_list.txt"


def test_gopro_large_scores_its_test_split_with_blur_frames(tmp_path):
    bench = find_benchmark(_gopro(tmp_path / "GOPRO_Large"))
    assert bench.name == "GoPro" and list(bench.subsets) == ["test"]
    assert {b.parts[-4] for b, _ in bench.pairs} == {"test"} and {b.parent.name for b, _ in bench.pairs} == {"blur"}
    assert len(bench.pairs) == 2
    assert len(find_benchmark(tmp_path / "GOPRO_Large", split="train").pairs) == 4
    gamma = find_benchmark(tmp_path / "GOPRO_Large", blur="blur_gamma")
    assert {b.parent.name for b, _ in gamma.pairs} == {"blur_gamma"}
    with pytest.raises(ValueError, match="--split train"):  # a training split is never chosen silently
        find_benchmark(tmp_path / "GOPRO_Large" / "train")
    assert len(find_benchmark(tmp_path / "GOPRO_Large" / "test").pairs) == 2  # the split itself: as before


def test_hide_gives_its_two_subsets_against_gt(tmp_path):
    bench = find_benchmark(_hide(tmp_path / "HIDE_dataset"))
    assert bench.name == "HIDE" and sorted(bench.subsets) == ["test-close-ups", "test-long-shot"]
    for subset, pairs in bench.subsets.items():
        assert [(b.parent.name, s.parent.name) for b, s in pairs] == [(subset, "GT")]


def test_realblur_lists_are_read_ground_truth_first(tmp_path):
    bench = find_benchmark(_realblur(tmp_path))
    assert bench.name == "RealBlur"
    assert all(b.parent.name == "blur" and s.parent.name == "gt" for b, s in bench.pairs)
    # a list whose order cannot be told is refused, not guessed
    lst = tmp_path / "mixed.txt"
    lines = (tmp_path / "RealBlur_J_test_list.txt").read_text().splitlines()
    lst.write_text(lines[0] + "\nRealBlur-J_ECC_IMCORR_centroid_itensity_ref/scene230/gt/gt_2.png x.png\n")
    (tmp_path / "x.png").write_bytes((tmp_path / lines[1].split()[0]).read_bytes())
    with pytest.raises(ValueError, match="cannot tell the blurry from the sharp"):
        find_benchmark(lst)


def test_input_target_folders(tmp_path):
    for i in (1, 2):
        _pair(tmp_path / "GoPro" / "input" / f"{i}.png", tmp_path / "GoPro" / "target" / f"{i}.png", i)
    bench = find_benchmark(tmp_path)
    assert [(b.parent.name, s.parent.name) for b, s in bench.pairs] == [("input", "target")] * 2


def _scored(tmp_path, data, *extra):
    out, table = tmp_path / "out", tmp_path / "t.csv"
    assert cli(["eval", "--data", str(data), "--out", str(out), "--csv", str(table), *extra]) == 0
    return out, list(csv.DictReader(table.open()))


@pytest.mark.parametrize("kind", ["gopro", "hide", "realblur"])
def test_eval_scores_each_layout_as_scikit_image_does(tmp_path, kind, capsys):
    data = {"gopro": _gopro, "hide": _hide, "realblur": _realblur}[kind](tmp_path / kind)
    out, rows = _scored(tmp_path, data)
    bench = find_benchmark(data)
    assert len(rows) == len(bench.pairs)
    for row, (b, s) in zip(rows, bench.pairs, strict=True):
        restored, sharp = read_image(out / row["image"])[..., :3], read_image(s)[..., :3]
        blurry = read_image(b)[..., :3]
        assert not np.array_equal(restored, sharp)  # restored from the blurry frame, not the sharp one
        assert float(row["psnr"]) == pytest.approx(peak_signal_noise_ratio(sharp, restored, data_range=255), abs=1e-6)
        assert float(row["psnr_blur"]) == pytest.approx(
            peak_signal_noise_ratio(sharp, blurry, data_range=255), abs=1e-6
        )
        assert float(row["ssim"]) == pytest.approx(
            structural_similarity(
                sharp,
                restored,
                channel_axis=2,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=255,
            ),
            abs=1e-4,
        )
    text = capsys.readouterr().out
    if kind == "hide":  # a row per subset and the overall mean, as the paper reports
        assert {r["subset"] for r in rows} == {"test-long-shot", "test-close-ups"}
        assert "mean test-long-shot" in text and "mean test-close-ups" in text and "mean (2 images)" in text


def test_eval_prints_the_papers_figure_beside_the_measured_one(tmp_path, capsys):
    from rdafnet.models.identity import attach_identity

    model = rdafnet.build("tiny")
    entry = {"name": "rdafnet-multi-stage-gopro", **rdafnet.weights.hub.pretrained_info("rdafnet-multi-stage-gopro")}
    attach_identity(model, entry)
    model.save_pretrained(tmp_path / "model")  # a saved copy of the release keeps its paper figures
    _scored(tmp_path, _gopro(tmp_path / "GOPRO_Large"), "--model", str(tmp_path / "model"))
    text = capsys.readouterr().out
    assert "paper (GoPro, rdafnet-multi-stage-gopro)" in text and "33.06" in text and "0.9610" in text
    assert "GoPro test/ (1 sequences, blur/ frames)" in text


def test_greyscale_pairs_are_scored_as_deblur_restores_them(tmp_path):
    grey = SAMPLE[200:264, 300:380].mean(axis=2).round().astype(np.uint8)
    write_image(tmp_path / "pairs" / "sharp" / "a.png", grey)
    write_image(tmp_path / "pairs" / "blur" / "a.png", np.roll(grey, 2, axis=1))
    out, rows = _scored(tmp_path, tmp_path / "pairs")
    restored = read_image(out / "a.png")
    assert restored.shape == (64, 80, 1)  # grey stays grey
    np.testing.assert_array_equal(restored[..., 0], rdafnet.deblur(np.roll(grey, 2, axis=1), rdafnet.from_pretrained()))
    assert float(rows[0]["psnr"]) == pytest.approx(peak_signal_noise_ratio(grey, restored[..., 0], data_range=255))
