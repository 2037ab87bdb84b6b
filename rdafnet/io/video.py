"""Video sources: decoding with PyAV (FFmpeg's libraries) or a folder of frames, and what a container and codec take."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rdafnet.io.image import IMAGE_SUFFIXES, read_image
from rdafnet.utils.naming import natural_key

#: Files read as video.
VIDEO_SUFFIXES = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".ts",
    ".mts",
    ".m2ts",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
)
#: Containers written, by output suffix.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
#: The speed presets of libx264 and libx265 (``--preset``).
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
#: Constant rate factor of the default codecs: 16 is visually lossless for x264 and VP9.
DEFAULT_CRF = 16


def import_av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise ImportError(
            "video needs PyAV (FFmpeg's libraries, no system ffmpeg): pip install 'rdafnet[video]'"
        ) from exc
    return av


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


class TruncatedVideoWarning(RuntimeWarning):
    """The source stopped decoding early; the output holds the frames before that."""


@dataclass(frozen=True)
class VideoInfo:
    """What a source holds: size, timing (``time_base`` units), bit depth, rotation, audio streams."""

    width: int
    height: int
    rate: Fraction | None  # average frames per second
    time_base: Fraction
    frames: int | None  # as the container declares it (an estimate; None if it does not)
    duration: float | None  # seconds
    bit_depth: int
    pix_fmt: str
    rotation: int  # degrees, as the display matrix says
    audio_streams: int
    colour: dict[str, int]  # colorspace, color_range, color_primaries, color_trc tags


@dataclass(frozen=True)
class VideoResult:
    """What :func:`deblur_video` did."""

    path: Path
    frames: int  # frames in the output
    restored: int  # restored by this call (the rest came from an earlier, killed run)
    seconds: float
    stopped: str | None  # why decoding stopped early (a truncated or damaged file), else None


Frame = np.ndarray | None  # an RGB frame, or None where it was not wanted


def _mp4_without_index(path: Path) -> bool:
    """An MP4/MOV file (an ``ftyp`` box first) whose top-level boxes hold no ``moov`` (the index a camera
    writes when recording stops): a recording cut off, which no decoder can read as it is."""
    kinds: list[bytes] = []
    pos = 0
    try:
        size_all = path.stat().st_size
        with open(path, "rb") as f:
            while pos + 8 <= size_all and len(kinds) < 64:
                f.seek(pos)
                head = f.read(16)
                size, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if size == 1 and len(head) >= 16:
                    size = int.from_bytes(head[8:16], "big")
                kinds.append(kind)
                if size < 8:  # 0: to the end of the file; anything else smaller is not a box
                    break
                pos += size
    except OSError:
        return False
    return bool(kinds) and kinds[0] == b"ftyp" and b"moov" not in kinds


class VideoSource:
    """Frames of a video file: (pts, RGB array) in decode order, 8-bit or 16-bit (deeper sources)."""

    def __init__(self, path: Path) -> None:
        av = import_av()
        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            if _mp4_without_index(path):
                raise ValueError(
                    f"{path} is an MP4/MOV recording cut off before its index (the 'moov' atom, which "
                    "a camera writes when recording stops), so no frame can be located; recover it "
                    "with a repair tool (e.g. untrunc, given a healthy clip from the same camera) "
                    "and restore the repaired file"
                ) from exc
            raise ValueError(f"{path} is not a video file that FFmpeg can read ({exc})") from exc
        if not self.container.streams.video:
            streams = [f"{st.type} ({st.codec_context.name})" for st in self.container.streams]
            self.container.close()
            raise ValueError(
                f"{path} holds no video stream, only {', '.join(streams) or 'no stream at all'}: "
                "there is nothing to deblur"
            )
        self.stream = stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        first = self._first_frame()
        pix_fmt = stream.codec_context.pix_fmt or (first.format.name if first is not None else None)
        if pix_fmt is None:
            self.container.close()
            raise ValueError(f"{path}: no video frame could be decoded (a damaged or empty file)")
        fmt = av.VideoFormat(pix_fmt)
        bits = max(c.bits for c in fmt.components)
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration
            else (self.container.duration / 1e6 if self.container.duration else None)
        )
        self.info = VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            rate=stream.average_rate or stream.guessed_rate,
            time_base=stream.time_base,
            frames=stream.frames or None,
            duration=duration,
            bit_depth=bits,
            pix_fmt=fmt.name,
            rotation=int(first.rotation or 0) if first else 0,
            audio_streams=len(self.container.streams.audio),
            colour={k: int(getattr(first, k)) for k in ("colorspace", "color_range", "color_primaries", "color_trc")}
            if first
            else {},
        )
        self.stopped: str | None = None

    def _first_frame(self) -> Any:
        av = import_av()
        try:
            with av.open(str(self.path)) as c:
                return next(c.decode(video=0), None)
        except av.error.FFmpegError:
            return None

    def frames(self, wanted: Callable[[int], bool] = lambda i: True) -> Iterator[tuple[tuple[int, int], Frame]]:
        """((pts, duration), image) per frame, in the stream's time base; the image is ``None`` for frames
        that are not ``wanted(index)`` (decoded for their timing, not converted)."""
        av = import_av()
        fmt = "rgb48le" if self.info.bit_depth > 8 else "rgb24"
        step = round(1 / (self.info.rate * self.info.time_base)) if self.info.rate else 1
        last = None
        n = 0
        try:
            for frame in self.container.decode(self.stream):
                pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
                last = pts
                n += 1
                if (frame.width, frame.height) != (self.info.width, self.info.height):
                    raise ValueError(
                        f"{self.path}: the frame size changes at frame {n} (from {self.info.width}x"
                        f"{self.info.height} to {frame.width}x{frame.height}); a video is written at one "
                        "size: split the file where the size changes and restore each part"
                    )
                image = frame.to_ndarray(format=fmt, src_color_range=frame.color_range) if wanted(n - 1) else None
                yield (pts, frame.duration or step), image
        except av.error.FFmpegError as exc:
            self.stopped = f"decoding stopped after frame {n} (t={_seconds(last, self.info):.3f} s): {exc}"
        finally:
            self.container.close()
        if self.stopped is None and self.info.frames and n < self.info.frames:
            self.stopped = f"the file ends after frame {n} of the {self.info.frames} it declares (truncated?)"
        end = _seconds(last, self.info) + (1 / float(self.info.rate) if self.info.rate else 0)
        if (
            self.stopped is None
            and self.info.duration
            and self.info.rate
            and end < self.info.duration - 1.5 / float(self.info.rate)
        ):
            self.stopped = (
                f"the file ends after frame {n} (t={end:.3f} s) of the {self.info.duration:.3f} s "
                "it declares (truncated?)"
            )


def _seconds(pts: int | None, info: VideoInfo) -> float:
    return 0.0 if pts is None else float(pts * info.time_base)


class ImageSource:
    """A sorted list of image files as frames at ``fps``."""

    def __init__(self, files: Sequence[Path], fps: float) -> None:
        if not files:
            raise ValueError("no frames: the folder holds no images")
        first = read_image(files[0])
        self.files = list(files)
        rate = Fraction(fps).limit_denominator(1001)
        self.info = VideoInfo(
            width=first.shape[1],
            height=first.shape[0],
            rate=rate,
            time_base=1 / rate,
            frames=len(files),
            duration=len(files) / float(rate),
            bit_depth=16 if first.dtype == np.uint16 else 8,
            pix_fmt="rgb24",
            rotation=0,
            audio_streams=0,
            colour={},
        )
        self.stopped = None
        self.path = self.files[0].parent

    def frames(self, wanted: Callable[[int], bool] = lambda i: True) -> Iterator[tuple[tuple[int, int], Frame]]:
        for i, f in enumerate(self.files):
            if not wanted(i):
                yield (i, 1), None
                continue
            img = read_image(f)
            if img.shape[:2] != (self.info.height, self.info.width):
                raise ValueError(
                    f"{f} is {img.shape[1]}x{img.shape[0]}, but the first frame is "
                    f"{self.info.width}x{self.info.height}: a video needs frames of one size"
                )
            yield (i, 1), img[..., :3] if img.shape[2] >= 3 else np.repeat(img, 3, axis=2)


def open_source(src: str | Path | Sequence[str | Path], *, fps: float | None = None) -> VideoSource | ImageSource:
    """A video file, or a folder (or list) of image files played at ``fps``."""
    if isinstance(src, (str, Path)) and Path(src).is_dir():
        files = sorted(
            (f for f in Path(src).iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES), key=natural_key
        )
        return ImageSource(files, fps or 30)
    if not isinstance(src, (str, Path)):
        return ImageSource([Path(f) for f in src], fps or 30)
    path = Path(src)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    return VideoSource(path)


def probe(src: str | Path) -> VideoInfo:
    """Size, frame rate, frame count, bit depth, rotation and audio of a video file."""
    source = open_source(src)
    if isinstance(source, VideoSource):
        source.container.close()
    return source.info


def codec_for(dst: Path, codec: str | None) -> str:
    return codec or ("libvpx-vp9" if dst.suffix.lower() == ".webm" else "libx264")


def pix_fmt_for(codec: str, info: VideoInfo) -> str:
    """The source's chroma layout and depth where the codec has them; 4:2:0 (or 4:4:4 for odd sizes) else."""
    av = import_av()
    formats = {f.name for f in av.codec.Codec(codec, "w").video_formats or ()}
    deep = info.bit_depth > 8
    odd = info.width % 2 or info.height % 2
    chroma = (
        "444"
        if odd or "444" in info.pix_fmt or info.pix_fmt.startswith(("rgb", "gbr", "bgr"))
        else "422"
        if "422" in info.pix_fmt
        else "420"
    )
    for name in ([f"yuv{chroma}p10le"] if deep else []) + [f"yuv{chroma}p", "yuv444p"]:
        if name in formats and not (odd and "444" not in name):
            if deep and "10" not in name:
                warnings.warn(
                    f"{codec} cannot write {info.bit_depth}-bit video: the output is 8-bit "
                    "(libx264 and libx265 keep 10 bits)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return name
    raise ValueError(
        f"codec {codec} cannot write a {info.width}x{info.height} video "
        f"(it offers {sorted(formats)}); choose another --codec"
    )
