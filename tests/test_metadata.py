"""Metadata on every output path: EXIF orientation applied exactly once by every reader (16-bit PNG and
TIFF too), ICC profile and EXIF kept by the 16-bit writers, and ICC profiles only on outputs of their
own colour space."""

import numpy as np
import pytest
from PIL import Image, ImageCms

from rdafnet.cli import main
from rdafnet.io.deep import png_chunk
from rdafnet.io.image import _ORIENT, read_image, read_metadata, write_image

pytest.importorskip("png")
tifffile = pytest.importorskip("tifffile")


def _stored():
    rng = np.random.default_rng(0)
    return (rng.random((6, 10, 3)) * 65535).astype(np.uint16)


def _exif(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    ex[0x010F] = "rdafnet test camera"  # Make
    return ex.tobytes()


def _png16(path, arr, orientation):
    write_image(path, arr, metadata={"exif": _exif(orientation)})
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_png_and_tiff_apply_orientation_once(tmp_path, orientation):
    arr = _stored()
    want = np.ascontiguousarray(_ORIENT.get(orientation, lambda x: x)(arr))
    got_png = read_image(_png16(tmp_path / "a.png", arr, orientation))
    tifffile.imwrite(tmp_path / "a.tif", arr, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    got_tif = read_image(tmp_path / "a.tif")
    assert np.array_equal(got_png, want) and np.array_equal(got_tif, want)
    # the same orientation in an 8-bit file, which Pillow transposes: the readers agree
    Image.fromarray((arr >> 8).astype(np.uint8)).save(tmp_path / "a8.png", exif=_exif(orientation))
    assert np.array_equal(read_image(tmp_path / "a8.png"), (want >> 8).astype(np.uint8))
    kept = Image.Exif()
    kept.load(read_metadata(tmp_path / "a.png")["exif"])
    assert kept[0x0112] == 1 and kept[0x010F] == "rdafnet test camera"  # reset once applied, the rest kept


def test_cli_keeps_a_rotated_16bit_photo_upright_with_its_metadata(tmp_path):
    arr = _stored()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    write_image(tmp_path / "in" / "p.png", arr, metadata={"exif": _exif(6), "icc_profile": icc})
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 0
    out = read_image(tmp_path / "out" / "p.png")
    assert out.dtype == np.uint16 and out.shape == (10, 6, 3)  # rotated once, not twice or never
    meta = read_metadata(tmp_path / "out" / "p.png")
    assert meta["icc_profile"] == icc
    exif = Image.Exif()
    exif.load(meta["exif"])
    assert exif[0x0112] == 1 and exif[0x010F] == "rdafnet test camera"


def _camera_exif():
    ex = Image.Exif()
    ex[0x010F], ex[0x0110], ex[0x0112] = "rdafnet test camera", "model 7", 1  # Make, Model, Orientation
    ex.get_ifd(0x8769).update({0x829A: 0.004, 0x8827: 800})  # ExposureTime, ISO
    return ex.tobytes()


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_tiff_keeps_its_icc_profile_and_exif(tmp_path, channels):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    arr = (np.random.default_rng(1).random((6, 10, channels)) * 65535).astype(np.uint16)
    write_image(tmp_path / "a.tif", arr, metadata={"icc_profile": icc, "exif": _camera_exif()})
    assert np.array_equal(tifffile.imread(tmp_path / "a.tif"), arr)  # the pixels, as written
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        tags = tif.pages[0].tags
        assert tags["InterColorProfile"].value == icc
        assert tags["Make"].value == "rdafnet test camera" and tags["Model"].value == "model 7"
        exif = tags["ExifTag"].value
        exposure = exif["ExposureTime"]  # a rational
        assert exif["ISOSpeedRatings"] == 800
        assert (exposure[0] / exposure[1] if isinstance(exposure, tuple) else exposure) == pytest.approx(0.004)
    assert np.array_equal(read_image(tmp_path / "a.tif"), arr)


def test_cli_keeps_a_16bit_tiff_photo_upright_with_its_exif(tmp_path):
    arr = _stored()
    # as a camera or raw converter writes it: rotated 90 degrees by its orientation tag, with EXIF
    (tmp_path / "in").mkdir()
    tifffile.imwrite(
        tmp_path / "in" / "p.tif",
        arr,
        photometric="rgb",
        extratags=[(274, "H", 1, 6, True), (271, "s", 0, "rdafnet test camera", True)],
    )
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 0
    out = read_image(tmp_path / "out" / "p.tif")
    assert out.dtype == np.uint16 and out.shape == (10, 6, 3)
    with tifffile.TiffFile(tmp_path / "out" / "p.tif") as tif:
        tags = tif.pages[0].tags
        assert tags["Make"].value == "rdafnet test camera" and tags["Orientation"].value == 1


def test_an_icc_profile_of_another_colour_space_is_not_copied(tmp_path):
    rgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk_icc = rgb_icc[:16] + b"CMYK" + rgb_icc[20:]  # the header's colour space field
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.warns(RuntimeWarning, match="describes CMYK data, not this RGB output"):
        write_image(tmp_path / "a.jpg", img, metadata={"icc_profile": cmyk_icc})
    assert "icc_profile" not in Image.open(tmp_path / "a.jpg").info
    with pytest.warns(RuntimeWarning, match="describes RGB data, not this GRAY output"):
        write_image(tmp_path / "g.png", img[..., 0], metadata={"icc_profile": rgb_icc})
    write_image(tmp_path / "ok.png", img, metadata={"icc_profile": rgb_icc})
    assert Image.open(tmp_path / "ok.png").info["icc_profile"] == rgb_icc


def test_png_chunks_are_well_formed(tmp_path):
    write_image(tmp_path / "a.png", _stored(), metadata={"exif": _exif(3)})
    with Image.open(tmp_path / "a.png") as im:
        im.load()  # Pillow checks every chunk's CRC
        assert im.getexif()[0x0112] == 3
    assert png_chunk(b"tEXt", b"")[:8] == b"\x00\x00\x00\x00tEXt"


@pytest.mark.parametrize("kind", ["rgb8", "gray16", "rgb16"])
def test_a_rotated_tiff_input_comes_back_with_its_own_pixels_not_its_storage_tags(tmp_path, kind):
    # a TIFF's EXIF, as Pillow reads it, is its first directory: its width, height and strips described the
    # input file, and copied onto the (rotated) output they made it read back transposed and scrambled
    rng = np.random.default_rng(2)
    arr = {
        "rgb8": lambda: (rng.random((12, 20, 3)) * 255).astype(np.uint8),
        "gray16": lambda: (rng.random((12, 20)) * 65535).astype(np.uint16),
        "rgb16": lambda: (rng.random((12, 20, 3)) * 65535).astype(np.uint16),
    }[kind]()
    (tmp_path / "in").mkdir()
    tifffile.imwrite(
        tmp_path / "in" / "p.tif",
        arr,
        photometric="rgb" if arr.ndim == 3 else "minisblack",
        extratags=[(274, "H", 1, 6, True), (271, "s", 0, "rdafnet test camera", True)],
    )
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--precision", "fp32"]) == 0
    import rdafnet

    want = rdafnet.deblur(read_image(tmp_path / "in" / "p.tif"), rdafnet.from_pretrained())
    got = read_image(tmp_path / "out" / "p.tif")
    assert got.shape == want.shape == (20, 12, arr.shape[2] if arr.ndim == 3 else 1)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # float rounding of the CLI's fused path
    exif = Image.Exif()
    exif.load(read_metadata(tmp_path / "out" / "p.tif")["exif"])
    assert exif[0x010F] == "rdafnet test camera" and exif.get(0x0112, 1) == 1
    stored = Image.Exif()
    stored.load(read_metadata(tmp_path / "in" / "p.tif")["exif"])
    assert not {256, 257, 273, 279} & set(stored)  # width, height, strips: the input's own


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
@pytest.mark.parametrize("orientation", [1, 6])
def test_image_size_from_the_header_is_what_read_image_returns(tmp_path, suffix, orientation):
    from rdafnet.io.image import image_size

    path = tmp_path / f"a{suffix}"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path, exif=_exif(orientation))
    assert image_size(path) == read_image(path).shape[:2] == ((30, 20) if orientation == 6 else (20, 30))
    assert image_size(tmp_path / "missing.png") is None


def test_png_level_trades_size_for_speed_and_never_changes_pixels(tmp_path):
    from rdafnet.io.image import PNG_LEVEL, SAMPLE_IMAGE

    img = read_image(SAMPLE_IMAGE)[:256, :384]
    fast = write_image(tmp_path / "fast.png", img)
    small = write_image(tmp_path / "small.png", img, png_level=9)
    assert PNG_LEVEL == 1
    assert np.array_equal(read_image(fast), img) and np.array_equal(read_image(small), img)
    assert small.stat().st_size < fast.stat().st_size < 1.15 * small.stat().st_size
