"""Image layouts the readers accept are restored as a viewer shows them, with their depth and alpha, or
refused in words about the file: planar RGB TIFFs, grey + alpha (8 and 16 bit, PNG and TIFF), multi-page
TIFFs (refused with the page count). Each round trip goes through ``rdafnet deblur``."""

import numpy as np
import pytest

import rdafnet
from rdafnet.cli import main as cli
from rdafnet.io.image import read_image

tifffile = pytest.importorskip("tifffile")
png = pytest.importorskip("png")

RGB = read_image(rdafnet.SAMPLE_IMAGE)[300:340, 500:556]  # 40x56, real texture
GREY, ALPHA = RGB[..., 1], (np.arange(40 * 56).reshape(40, 56) % 251).astype(np.uint8)


def _deblur(tmp_path, path):
    assert cli(["deblur", str(path), "-o", str(tmp_path / "out")]) == 0
    return read_image(tmp_path / "out" / path.name)


def test_a_planar_rgb_tiff_reads_as_its_pixels(tmp_path):
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(RGB, -1, 0), planarconfig="separate", photometric="rgb")
    np.testing.assert_array_equal(read_image(path), RGB)
    tifffile.imwrite(tmp_path / "contig.tif", RGB, photometric="rgb")
    out = _deblur(tmp_path, path)  # restored as the same pixels stored one sample after another
    np.testing.assert_array_equal(out, _deblur(tmp_path, tmp_path / "contig.tif"))


@pytest.mark.parametrize("deep", [False, True], ids=["8-bit", "16-bit"])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_grey_plus_alpha_keeps_its_depth_and_alpha(tmp_path, deep, suffix):
    grey, alpha = (GREY.astype(np.uint16) * 257 + 1, ALPHA.astype(np.uint16) * 257 + 2) if deep else (GREY, ALPHA)
    path = tmp_path / f"ga{suffix}"
    if suffix == ".png":
        with open(path, "wb") as f:
            png.Writer(56, 40, greyscale=True, alpha=True, bitdepth=16 if deep else 8).write(
                f, np.dstack([grey, alpha]).reshape(40, 112)
            )
    else:
        tifffile.imwrite(path, np.dstack([grey, alpha]), photometric="minisblack", extrasamples=["unassalpha"])
    image = read_image(path)
    assert image.dtype == grey.dtype and image.shape == (40, 56, 4)  # RGBA, as a viewer shows it
    np.testing.assert_array_equal(image[..., 3], alpha)  # every bit of the alpha, the low byte too
    np.testing.assert_array_equal(image[..., 0], grey)
    out = _deblur(tmp_path, path)
    assert out.dtype == grey.dtype and out.shape == (40, 56, 4)
    np.testing.assert_array_equal(out[..., 3], alpha)  # alpha passes through untouched


def test_a_multi_page_tiff_is_refused_with_its_page_count(tmp_path, capsys):
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, np.stack([RGB, RGB[::-1], RGB[:, ::-1]]), photometric="rgb")
    assert cli(["deblur", str(path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "holds 3 pages" in err and "a file of its own" in err and "shape" not in err
    assert not (tmp_path / "out" / "pages.tif").exists()


def test_an_output_format_that_cannot_hold_the_input_is_refused_before_any_work(tmp_path, capsys):
    from rdafnet.io.image import write_image

    write_image(tmp_path / "in" / "alpha.png", np.dstack([RGB, ALPHA]))
    write_image(tmp_path / "in" / "deep.png", RGB.astype(np.uint16) * 257)
    write_image(tmp_path / "in" / "plain.png", RGB)
    out = tmp_path / "out"
    assert cli(["deblur", str(tmp_path / "in"), "-o", str(out), "--format", "jpg"]) == 2
    err = capsys.readouterr().err
    assert "the alpha of" in err and "alpha.png" in err and "the 16-bit of" in err and "deep.png" in err
    assert "plain.png" not in err and not out.exists()  # nothing restored, nothing written
    assert cli(["deblur", str(tmp_path / "in"), "-o", str(out), "--format", "webp"]) == 2  # alpha yes, 16-bit no
    assert "16-bit" in capsys.readouterr().err and not out.exists()
    assert cli(["deblur", str(tmp_path / "in"), "-o", str(out), "--format", "tif"]) == 0
    back = read_image(out / "alpha.tif")
    assert back.shape[2] == 4 and read_image(out / "deep.tif").dtype == np.uint16
