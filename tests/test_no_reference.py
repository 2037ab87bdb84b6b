"""Judging a model on photos without a sharp frame (rdafnet eval --no-reference), CSV output, and the
before/after sheet (also for pairs)."""

import csv

import numpy as np
import pytest
import skimage.data
from PIL import Image

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.evaluation.evaluate import evaluate_no_reference
from rdafnet.evaluation.niqe import niqe
from rdafnet.evaluation.sheet import SheetRow, blurriest_window, write_sheet


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    Image.fromarray(skimage.data.astronaut()[100:260, 120:320]).save(d / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[:128, :176]).save(d / "coffee.png")
    Image.fromarray(skimage.data.camera()[:60, :60]).save(d / "small.png")  # under 96x96: no NIQE
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    return d


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_no_reference_eval_scores_input_and_output(photos, tmp_path, capsys):
    rc = cli(
        [
            "eval",
            "--no-reference",
            str(photos),
            "--csv",
            str(tmp_path / "t.csv"),
            "--sheet",
            str(tmp_path / "s.png"),
            "--sheet-crop",
            "96",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 1  # ran, two inputs failed, each named
    assert "broken.png" in err and "small.png: NIQE needs an image of at least 96x96" in err
    assert "Traceback" not in err and "2 of 4 images failed" in err
    rows = {r["image"]: r for r in _csv(tmp_path / "t.csv")}
    assert sorted(rows) == ["astronaut.png", "coffee.png"]
    model = rdafnet.from_pretrained()
    for name, row in rows.items():
        photo = rdafnet.io.read_image(photos / name)
        assert float(row["niqe_input"]) == pytest.approx(niqe(photo), abs=1e-12)
        assert float(row["niqe_output"]) == pytest.approx(niqe(rdafnet.deblur(photo, model)), abs=1e-12)
        assert f"{float(row['niqe_input']):8.3f}" in out
    assert "mean (2 images)" in out
    sheet = Image.open(tmp_path / "s.png")
    assert sheet.width == 2 * 96 + 3 * 6 and sheet.height > 2 * 96  # two columns, two rows


def test_scoring_existing_restorations(photos, tmp_path, capsys):
    done = tmp_path / "done"
    done.mkdir()
    Image.open(photos / "astronaut.png").save(done / "astronaut.webp", lossless=True)  # "restored" = same
    rows = evaluate_no_reference(None, [photos / "astronaut.png"], restored=done)
    assert rows[0]["niqe_output"] == rows[0]["niqe_input"]
    errors = []
    evaluate_no_reference(None, [photos / "coffee.png"], restored=done, on_error=lambda p, e: errors.append(str(e)))
    assert errors and "no restored image named coffee.* in" in errors[0]
    assert (
        cli(
            [
                "eval",
                "--no-reference",
                str(photos / "astronaut.png"),
                "--restored",
                str(done),
                "--csv",
                str(tmp_path / "r.csv"),
            ]
        )
        == 0
    )
    assert float(_csv(tmp_path / "r.csv")[0]["niqe_output"]) == pytest.approx(rows[0]["niqe_input"], abs=1e-12)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "x", "--restored", "y"], "use it with --no-reference"),
        (["--no-reference", "PHOTOS", "--sheet", "s.gif"], "unsupported format"),
        (["--no-reference", "PHOTOS", "--csv", "EXISTING"], "exists; pass --overwrite"),
        (["--no-reference", "PHOTOS", "--restored", "y", "--out", "z"], "pass one of them"),
    ],
)
def test_refusals_come_before_any_work(photos, tmp_path, capsys, args, message):
    (tmp_path / "existing.csv").write_text("keep me")
    args = [str(photos) if a == "PHOTOS" else str(tmp_path / "existing.csv") if a == "EXISTING" else a for a in args]
    assert cli(["eval", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "existing.csv").read_text() == "keep me"


def test_paired_eval_writes_csv_and_a_three_column_sheet(tmp_path, capsys):
    sharp = skimage.data.chelsea()[:128, :192]
    blur = np.round(sum(np.roll(sharp.astype(float), s, axis=1) for s in range(-4, 5)) / 9).astype(np.uint8)
    for sub, img in (("blur", blur), ("sharp", sharp)):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
        Image.fromarray(img).save(tmp_path / "pairs" / sub / "cat.png")
    assert (
        cli(
            [
                "eval",
                "--data",
                str(tmp_path / "pairs"),
                "--csv",
                str(tmp_path / "p.csv"),
                "--sheet",
                str(tmp_path / "p.html"),
                "--sheet-crop",
                "64",
            ]
        )
        == 0
    )
    row = _csv(tmp_path / "p.csv")[0]
    assert row["image"] == "cat.png" and float(row["psnr_blur"]) == pytest.approx(rdafnet.evaluation.psnr(blur, sharp))
    page = (tmp_path / "p.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "cat.png" in page and "show sharp" in page
    assert page.count('class="rdafnet-compare"') == 1  # the before/after view, one per image


def test_the_crop_goes_where_the_blur_is():
    rng = np.random.default_rng(0)
    texture = rng.random((256, 512)) * 255
    soft = texture.copy()
    k = np.ones(9) / 9  # blur the right half only
    soft[:, 256:] = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, texture[:, 256:])
    soft[:, 256:] = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, soft[:, 256:])
    img = np.round(soft).astype(np.uint8)
    y, x = blurriest_window(img, 128)
    assert x >= 256 - 32
    # with the sharp frame, the crop goes where input and reference differ most
    ref = img.copy()
    ref[64:128, 32:96] = 0
    y, x = blurriest_window(img, 64, reference=ref)
    assert (y, x) == (64, 32)


def test_sheet_refuses_unknown_formats_and_existing_files(tmp_path):
    row = SheetRow("a", "label", [np.zeros((40, 40, 3), np.uint8)] * 2)
    write_sheet(tmp_path / "s.jpg", [row], crop=32)
    assert Image.open(tmp_path / "s.jpg").format == "JPEG"
    with pytest.raises(FileExistsError):
        write_sheet(tmp_path / "s.jpg", [row], crop=32)
    with pytest.raises(ValueError, match="unsupported sheet format"):
        write_sheet(tmp_path / "s.gif", [row])
