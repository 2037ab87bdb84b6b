"""16-bit colour and float files, which Pillow cannot hold: PNG by pypng, TIFF by tifffile (the io16 extra)."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image

from rdafnet.io.guard import ImageReadError, check_pixels


class UsePillow(Exception):
    """A TIFF layout that Pillow converts correctly and the 16-bit reader does not."""


IO16_HINT = "16-bit colour images need the optional packages pypng and tifffile: pip install 'rdafnet[io16]'"


def png_is_16bit_colour(path: Path) -> bool:
    """A 16-bit PNG that Pillow would bring down to 8 bits: RGB, RGBA or grey + alpha."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] in (2, 4, 6)


def as_viewer_shows(path: Path, arr: np.ndarray) -> np.ndarray:
    """Samples in the layout a viewer shows: grey + alpha as RGBA of the same depth; other channel counts
    are refused in words about the file."""
    if arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha: what a viewer shows, in RGBA
        arr = np.concatenate([arr[..., :1].repeat(3, axis=2), arr[..., 1:]], axis=2)
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise ImageReadError(
            f"{path} holds {arr.shape[2]} samples per pixel; rdafnet reads grey, grey + alpha, RGB and RGBA "
            "images: save it as one of those"
        )
    return np.ascontiguousarray(arr)


def read_16bit(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            return read_tiff(path)
        import png
    except ImportError as exc:
        raise ImageReadError(f"cannot read {path}: {IO16_HINT}") from exc
    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    check_pixels(path, h, w)
    return as_viewer_shows(path, np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(h, w, info["planes"]))


def read_tiff(path: Path) -> np.ndarray:
    """A TIFF as it looks in a viewer: grayscale (black or white is zero) or RGB(A), any bit depth and
    sample layout; other colour models are converted by Pillow (8-bit) or refused."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if len(tif.pages) > 1:
            raise ImageReadError(
                f"{path} holds {len(tif.pages)} pages (a multi-page TIFF); rdafnet restores single images: save "
                "each page as a file of its own (tifffile.imread(path, key=i)) and restore those"
            )
        page = cast("tifffile.TiffPage", tif.pages[0])
        check_pixels(path, page.imagelength, page.imagewidth)
        kind = tifffile.PHOTOMETRIC(page.photometric).name
        if kind not in ("MINISBLACK", "MINISWHITE", "RGB"):
            if page.bitspersample == 8:
                raise UsePillow(kind)
            raise ImageReadError(
                f"{path} is a {page.bitspersample}-bit {kind} TIFF; rdafnet reads grayscale and RGB(A): convert it"
            )
        arr = page.asarray()
        if page.planarconfig == 2 and arr.ndim == 3:  # planar: each sample's plane stored apart, first
            arr = np.moveaxis(arr, 0, -1)
    if kind == "MINISWHITE":  # zero is white: as a viewer shows it (the grey sample; alpha stays)
        grey = arr[..., :1] if arr.ndim == 3 else arr
        top = np.iinfo(arr.dtype).max if arr.dtype.kind in "ui" else 1
        arr = np.concatenate([top - grey, arr[..., 1:]], axis=2) if arr.ndim == 3 else top - grey
    return as_viewer_shows(path, arr)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_16bit(path: Path, arr: np.ndarray, metadata: dict[str, bytes]) -> Callable[[str], object]:
    """A writer of a 16-bit colour PNG (pypng; the ICC profile and EXIF go in iCCP/eXIf chunks) or
    TIFF (:func:`_tiff16`: the ICC profile and EXIF with its sub-IFDs)."""
    icc, exif = metadata.get("icc_profile"), metadata.get("exif")
    if path.suffix.lower() in (".tif", ".tiff"):
        return lambda tmp: Path(tmp).write_bytes(_tiff16(path, arr, icc, exif))
    try:
        import png
    except ImportError as exc:
        raise ValueError(f"cannot write 16-bit colour {path}: {IO16_HINT}") from exc
    if path.suffix.lower() != ".png":
        raise ValueError(f"cannot write 16-bit colour as {path.suffix}; use .png or .tif")
    h, w, c = arr.shape
    writer = png.Writer(w, h, greyscale=False, alpha=c == 4, bitdepth=16)
    extra = (png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)) if icc else b"") + (
        png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif) if exif else b""
    )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            writer.write(f, arr.reshape(h, w * c))
        if extra:  # after IHDR (8-byte signature + 25-byte chunk), before the data
            data = Path(tmp).read_bytes()
            Path(tmp).write_bytes(data[:33] + extra + data[33:])

    return write


def _tiff16(path: Path, arr: np.ndarray, icc: bytes | None, exif: bytes | None) -> bytes:
    """An uncompressed little-endian TIFF of a 16-bit RGB(A) image, with the ICC profile and the EXIF tags
    (camera tags in the image's own directory, the Exif and GPS directories as sub-IFDs, as cameras write
    them). EXIF that cannot be re-encoded is left out with a warning; the image never is."""
    from PIL import TiffImagePlugin

    h, w, c = arr.shape

    def directory(with_exif: bool) -> TiffImagePlugin.ImageFileDirectory_v2:
        ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
        if with_exif and exif is not None:
            tags = Image.Exif()
            tags.load(exif)
            for tag, value in tags.items():  # (read_metadata has left out the input's storage tags)
                ifd[tag] = tags.get_ifd(tag) if tag in (0x8769, 0x8825) else value  # Exif, GPS: sub-IFDs
        for tag, value in {
            256: w,
            257: h,
            258: (16,) * c,
            259: 1,
            262: 2,
            273: (0,),
            277: c,
            278: h,
            279: (arr.size * 2,),
            284: 1,
            339: (1,) * c,
        }.items():
            ifd[tag] = value
        if c == 4:
            ifd[338] = (2,)  # ExtraSamples: unassociated alpha
        if icc:
            ifd[34675] = icc
        return ifd

    try:
        ifd = directory(bool(exif)).tobytes(8)
    except Exception as exc:  # noqa: BLE001 - a tag Pillow cannot re-encode: keep the image and the profile
        warnings.warn(
            f"{path}: the input's EXIF could not be written to a 16-bit TIFF ({exc}); it is left out",
            RuntimeWarning,
            stacklevel=4,
        )
        ifd = directory(False).tobytes(8)
    return b"II*\x00" + struct.pack("<L", 8) + ifd + arr.astype("<u2").tobytes()
