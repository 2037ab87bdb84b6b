"""Video in, video out: decode with PyAV (FFmpeg's libraries), restore every frame, encode.

The restored video is written as segments of ``segment_frames`` frames into a work folder beside the
output (each segment file appears atomically, once complete), then the segments are joined without
re-encoding and the source's audio is copied in, into a temporary file that is renamed to the output.
A killed run therefore resumes from its last finished segment, and the output name only ever holds a
complete file. Under ``torchrun`` each process restores every ``world_size``-th segment.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import queue
import shutil
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed
from ._atomic import atomic_write
from .inference import iter_deblur
from .io import IMAGE_SUFFIXES, read_image, write_image

#: Files read as video.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
                  ".wmv", ".flv", ".3gp")
#: Containers written, by output suffix.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
#: The speed presets of libx264 and libx265 (``--preset``).
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
#: Constant rate factor of the default codecs: 16 is visually lossless for x264 and VP9.
DEFAULT_CRF = 16


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise ImportError("video needs PyAV (FFmpeg's libraries, no system ffmpeg): "
                          "pip install 'rdafnet[video]'") from exc
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
    rate: Fraction | None          # average frames per second
    time_base: Fraction
    frames: int | None             # as the container declares it (an estimate; None if it does not)
    duration: float | None         # seconds
    bit_depth: int
    pix_fmt: str
    rotation: int                  # degrees, as the display matrix says
    audio_streams: int
    colour: dict[str, int]         # colorspace, color_range, color_primaries, color_trc tags


@dataclass(frozen=True)
class VideoResult:
    """What :func:`deblur_video` did."""
    path: Path
    frames: int                    # frames in the output
    restored: int                  # restored by this call (the rest came from an earlier, killed run)
    seconds: float
    stopped: str | None            # why decoding stopped early (a truncated or damaged file), else None


Frame = np.ndarray | None       # an RGB frame, or None where it was not wanted


def _mp4_without_index(path: Path) -> bool:
    """An MP4/MOV file (an ``ftyp`` box first) whose top-level boxes hold no ``moov`` (the index a camera
    writes when recording stops): a recording cut off, which no decoder can read as it is."""
    kinds, pos = [], 0
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
                if size < 8:                 # 0: to the end of the file; anything else smaller is not a box
                    break
                pos += size
    except OSError:
        return False
    return bool(kinds) and kinds[0] == b"ftyp" and b"moov" not in kinds


class _VideoSource:
    """Frames of a video file: (pts, RGB array) in decode order, 8-bit or 16-bit (deeper sources)."""

    def __init__(self, path: Path) -> None:
        av = _av()
        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            if _mp4_without_index(path):
                raise ValueError(f"{path} is an MP4/MOV recording cut off before its index (the 'moov' atom, which "
                                 "a camera writes when recording stops), so no frame can be located; recover it "
                                 "with a repair tool (e.g. untrunc, given a healthy clip from the same camera) "
                                 "and restore the repaired file") from exc
            raise ValueError(f"{path} is not a video file that FFmpeg can read ({exc})") from exc
        if not self.container.streams.video:
            streams = [f"{st.type} ({st.codec_context.name})" for st in self.container.streams]
            self.container.close()
            raise ValueError(f"{path} holds no video stream, only {', '.join(streams) or 'no stream at all'}: "
                             "there is nothing to deblur")
        self.stream = stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        first = self._first_frame()
        pix_fmt = stream.codec_context.pix_fmt or (first.format.name if first is not None else None)
        if pix_fmt is None:
            self.container.close()
            raise ValueError(f"{path}: no video frame could be decoded (a damaged or empty file)")
        fmt = av.VideoFormat(pix_fmt)
        bits = max(c.bits for c in fmt.components)
        duration = (float(stream.duration * stream.time_base) if stream.duration
                    else (self.container.duration / 1e6 if self.container.duration else None))
        self.info = VideoInfo(
            width=stream.codec_context.width, height=stream.codec_context.height,
            rate=stream.average_rate or stream.guessed_rate, time_base=stream.time_base, frames=stream.frames or None,
            duration=duration, bit_depth=bits, pix_fmt=fmt.name, rotation=int(first.rotation or 0) if first else 0,
            audio_streams=len(self.container.streams.audio),
            colour={k: int(getattr(first, k)) for k in ("colorspace", "color_range", "color_primaries", "color_trc")}
            if first else {})
        self.stopped: str | None = None

    def _first_frame(self) -> Any:
        av = _av()
        try:
            with av.open(str(self.path)) as c:
                return next(c.decode(video=0), None)
        except av.error.FFmpegError:
            return None

    def frames(self, wanted: Callable[[int], bool] = lambda i: True) -> Iterator[tuple[tuple[int, int], Frame]]:
        """((pts, duration), image) per frame, in the stream's time base; the image is ``None`` for frames
        that are not ``wanted(index)`` (decoded for their timing, not converted)."""
        av = _av()
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
                    raise ValueError(f"{self.path}: the frame size changes at frame {n} (from {self.info.width}x"
                                     f"{self.info.height} to {frame.width}x{frame.height}); a video is written at one "
                                     "size: split the file where the size changes and restore each part")
                image = frame.to_ndarray(format=fmt, src_color_range=frame.color_range) if wanted(n - 1) else None
                yield (pts, frame.duration or step), image
        except av.error.FFmpegError as exc:
            self.stopped = f"decoding stopped after frame {n} (t={_seconds(last, self.info):.3f} s): {exc}"
        finally:
            self.container.close()
        if self.stopped is None and self.info.frames and n < self.info.frames:
            self.stopped = f"the file ends after frame {n} of the {self.info.frames} it declares (truncated?)"
        end = _seconds(last, self.info) + (1 / float(self.info.rate) if self.info.rate else 0)
        if self.stopped is None and self.info.duration and self.info.rate and \
                end < self.info.duration - 1.5 / float(self.info.rate):
            self.stopped = (f"the file ends after frame {n} (t={end:.3f} s) of the {self.info.duration:.3f} s "
                            "it declares (truncated?)")


def _seconds(pts: int | None, info: VideoInfo) -> float:
    return 0.0 if pts is None else float(pts * info.time_base)


class _ImageSource:
    """A sorted list of image files as frames at ``fps``."""

    def __init__(self, files: Sequence[Path], fps: float) -> None:
        if not files:
            raise ValueError("no frames: the folder holds no images")
        first = read_image(files[0])
        self.files = list(files)
        rate = Fraction(fps).limit_denominator(1001)
        self.info = VideoInfo(width=first.shape[1], height=first.shape[0], rate=rate, time_base=1 / rate,
                              frames=len(files), duration=len(files) / float(rate),
                              bit_depth=16 if first.dtype == np.uint16 else 8, pix_fmt="rgb24", rotation=0,
                              audio_streams=0, colour={})
        self.stopped = None
        self.path = self.files[0].parent

    def frames(self, wanted: Callable[[int], bool] = lambda i: True) -> Iterator[tuple[tuple[int, int], Frame]]:
        for i, f in enumerate(self.files):
            if not wanted(i):
                yield (i, 1), None
                continue
            img = read_image(f)
            if img.shape[:2] != (self.info.height, self.info.width):
                raise ValueError(f"{f} is {img.shape[1]}x{img.shape[0]}, but the first frame is "
                                 f"{self.info.width}x{self.info.height}: a video needs frames of one size")
            yield (i, 1), img[..., :3] if img.shape[2] >= 3 else np.repeat(img, 3, axis=2)


def open_source(src: str | Path | Sequence[str | Path], *, fps: float | None = None) -> _VideoSource | _ImageSource:
    """A video file, or a folder (or list) of image files played at ``fps``."""
    if isinstance(src, (str, Path)) and Path(src).is_dir():
        files = sorted(f for f in Path(src).iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        return _ImageSource(files, fps or 30)
    if isinstance(src, (list, tuple)):
        return _ImageSource([Path(f) for f in src], fps or 30)
    path = Path(src)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    return _VideoSource(path)


def probe(src: str | Path) -> VideoInfo:
    """Size, frame rate, frame count, bit depth, rotation and audio of a video file."""
    source = open_source(src)
    if isinstance(source, _VideoSource):
        source.container.close()
    return source.info


def _codec_for(dst: Path, codec: str | None) -> str:
    return codec or ("libvpx-vp9" if dst.suffix.lower() == ".webm" else "libx264")


def _pix_fmt(codec: str, info: VideoInfo) -> str:
    """The source's chroma layout and depth where the codec has them; 4:2:0 (or 4:4:4 for odd sizes) else."""
    av = _av()
    formats = {f.name for f in av.codec.Codec(codec, "w").video_formats or ()}
    deep = info.bit_depth > 8
    odd = info.width % 2 or info.height % 2
    chroma = "444" if odd or "444" in info.pix_fmt or info.pix_fmt.startswith(("rgb", "gbr", "bgr")) else \
        "422" if "422" in info.pix_fmt else "420"
    for name in ([f"yuv{chroma}p10le"] if deep else []) + [f"yuv{chroma}p", "yuv444p"]:
        if name in formats and not (odd and "444" not in name):
            if deep and "10" not in name:
                warnings.warn(f"{codec} cannot write {info.bit_depth}-bit video: the output is 8-bit "
                              "(libx264 and libx265 keep 10 bits)", RuntimeWarning, stacklevel=3)
            return name
    raise ValueError(f"codec {codec} cannot write a {info.width}x{info.height} video "
                     f"(it offers {sorted(formats)}); choose another --codec")


@dataclass(frozen=True)
class _Plan:
    """Everything that decides a segment's content: a work folder from another plan is not reused."""
    source: str
    source_size: int
    source_mtime: float
    model: str
    options: dict[str, Any]
    segment_frames: int


def _model_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


_ABORT = ("abort",)      # a failed or interrupted run: the open segment is dropped, not committed


class _SegmentWriter(threading.Thread):
    """Encodes restored frames into segment files in a background thread (a bounded queue feeds it)."""

    def __init__(self, work: Path, *, codec: str, pix_fmt: str, options: dict[str, str], info: VideoInfo,
                 segment_frames: int, frames_out: Path | None, stem: str) -> None:
        super().__init__(daemon=True, name="rdafnet-encode")
        self.q: queue.Queue = queue.Queue(maxsize=4)
        self.work, self.codec, self.pix_fmt, self.options, self.info = work, codec, pix_fmt, options, info
        self.segment_frames, self.frames_out, self.stem = segment_frames, frames_out, stem
        self.error: BaseException | None = None
        self._ahead: list = []          # an item read past the end of a segment: the next one's first

    def put(self, item: tuple | None) -> None:
        """Queue ``item`` (``None``: the end); raises the encoder's error if it has stopped on one."""
        while True:
            self.raise_failure()
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def raise_failure(self) -> None:
        """Re-raise an error of the encoding thread: OS errors (a full disk) as they are, codec errors
        as ``ValueError``, so that the command line reports either in one line."""
        exc = self.error
        if exc is None:
            return
        if isinstance(exc, (OSError, ValueError)):
            raise exc
        raise ValueError(f"encoding with {self.codec} failed: {exc}") from exc

    def abort(self) -> None:
        """Drop the open segment (finished ones stay for the next run) and wait for the thread."""
        while self.is_alive():                 # a thread that died on an error reads no more
            try:
                self.q.put(_ABORT, timeout=0.2)
                break
            except queue.Full:
                continue
        self.join()

    def _next(self) -> tuple | None:
        return self._ahead.pop() if self._ahead else self.q.get()

    def run(self) -> None:
        try:
            while (item := self._next()) is not None:
                seg = item[0] // self.segment_frames
                atomic_write(segment_path(self.work, seg), lambda tmp: self._encode(tmp, seg, item))
        except BaseException as exc:         # noqa: BLE001 - raised in the caller by put()/join
            self.error = exc

    def _encode(self, tmp: str, seg: int, first: tuple) -> None:
        av = _av()
        info = self.info
        with av.open(tmp, "w", format="mp4", options=_exact_times(info)) as out:
            stream = out.add_stream(self.codec, rate=info.rate, options=dict(self.options))
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, self.pix_fmt
            stream.time_base = stream.codec_context.time_base = info.time_base
            for key, value in info.colour.items():
                setattr(stream.codec_context, key, value)
            item: tuple | None = first
            while item is not None and item is not _ABORT and item[0] // self.segment_frames == seg:
                index, (pts, duration), image = item
                if self.frames_out is not None:
                    write_image(self.frames_out / f"{self.stem}_{index:06d}.png", image, overwrite=True)
                frame = av.VideoFrame.from_ndarray(image, format="rgb48le" if image.dtype == np.uint16 else "rgb24")
                frame = frame.reformat(format=self.pix_fmt, dst_colorspace=info.colour.get("colorspace") or None,
                                       dst_color_range=info.colour.get("color_range") or None)
                frame.pts, frame.duration, frame.time_base = pts, duration, info.time_base
                out.mux(stream.encode(frame))
                item = self._next()
            if item is _ABORT:
                raise InterruptedError("the run stopped before this segment was complete")
            out.mux(stream.encode())
            self._ahead.append(item)


def _exact_times(info: VideoInfo, container: str = "mp4") -> dict[str, str]:
    """Muxer options that keep every timestamp exact: MP4/MOV edit lists are written in the movie
    time scale (1/1000 s by default), which would round the start of each segment."""
    return {"movie_timescale": str(info.time_base.denominator)} if container in ("mp4", "mov") else {}


def segment_path(work: Path, seg: int) -> Path:
    return work / f"seg-{seg:06d}.mp4"


def _work_folder(dst: Path) -> Path:
    return dst.parent / f".{dst.name}.rdafnet-work"


def _join(work: Path, segments: int, dst: Path, source: _VideoSource | _ImageSource, *, audio: bool,
          overwrite: bool) -> None:
    """Segments -> one file, with the source's audio packets copied unchanged and the rotation kept."""
    av = _av()
    container = CONTAINERS[dst.suffix.lower()]

    def write(tmp: str) -> None:
        inputs = [av.open(str(segment_path(work, s))) for s in range(segments)]
        src = av.open(str(source.path)) if audio and isinstance(source, _VideoSource) else None
        try:
            with av.open(tmp, "w", format=container, options=_exact_times(source.info, container)) as out:
                video = out.add_stream_from_template(inputs[0].streams.video[0])
                video.time_base = source.info.time_base
                if source.info.rotation:
                    video.set_display_rotation(source.info.rotation)
                tracks = []
                for a in (src.streams.audio if src is not None else ()):
                    try:
                        tracks.append((a, out.add_stream_from_template(a)))
                    except (av.error.FFmpegError, ValueError) as exc:
                        raise ValueError(f"the {a.codec_context.name} audio of {source.path} cannot go into "
                                         f"{dst.suffix} ({exc}); write .mkv, which takes any audio") from exc

                def packets(demux: Iterator[Any], streams: dict[int, Any], order: int) -> Iterator[tuple]:
                    for n, p in enumerate(demux):
                        if p.dts is None and p.pts is None:        # flush packets carry nothing
                            continue
                        t = (p.dts if p.dts is not None else p.pts) * p.time_base
                        yield t, order, n, p, streams[p.stream.index]

                streams = [packets((p for c in inputs for p in c.demux(c.streams.video[0])),
                                   {0: video}, 0)]
                if tracks:
                    streams.append(packets(src.demux(*[a for a, _ in tracks]),
                                           {a.index: o for a, o in tracks}, 1))
                for _, _, _, packet, stream in heapq.merge(*streams, key=lambda r: r[:3]):
                    packet.stream = stream
                    out.mux(packet)
        finally:
            for c in inputs + ([src] if src is not None else []):
                c.close()
    try:
        atomic_write(dst, write, overwrite=overwrite)
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot write {dst}: {exc}") from exc


def deblur_video(src: str | Path | Sequence[str | Path], dst: str | Path, model: torch.nn.Module | None = None, *,
                 codec: str | None = None, crf: int = DEFAULT_CRF, preset: str = "medium",
                 tile: int | None = None, overlap: int | None = None, batch_size: int = 1,
                 max_memory: int | None = None, fps: float | None = None, frames_out: str | Path | None = None,
                 audio: bool = True, overwrite: bool = False, segment_frames: int = 32,
                 progress: bool = False) -> VideoResult | None:
    """Restore every frame of ``src`` (a video file, or a folder or list of images played at ``fps``,
    default 30) into the video ``dst`` (.mp4, .mov, .m4v, .mkv or .webm).

    The output keeps the source's size, frame timestamps (so its frame rate, variable ones included,
    and duration), rotation, colour tags and audio streams (copied unchanged). ``codec`` defaults to
    libx264 (libvpx-vp9 for .webm) at ``crf`` 16, visually lossless; 10-bit sources stay 10-bit where the
    codec allows. ``frames_out`` also writes each restored frame as ``<name>_<index>.png``.

    Frames are decoded, restored (``model`` as given: pass ``optimize(...)``'d models for speed; ``None``
    is the bundled default) and encoded in a pipeline, with bounded memory for any length.
    ``batch_size`` frames go through the model together (and, with ``tile``, that many tiles per pass). Progress is
    kept in segments of ``segment_frames`` frames in a work folder beside ``dst``: running the same call
    again after a kill redoes only the unfinished segments. Under ``torchrun``, each process restores its
    share of the segments and rank 0 writes ``dst`` (other ranks return ``None``).

    A damaged or truncated source is restored as far as it decodes; ``VideoResult.stopped`` says where
    and why it stopped (and a ``RuntimeWarning`` is raised).
    """
    av = _av()
    dst = Path(dst)
    if dst.suffix.lower() not in CONTAINERS:
        raise ValueError(f"cannot write video as {dst.suffix or 'a file without suffix'}; "
                         f"name the output {' / '.join(CONTAINERS)}")
    if not isinstance(src, (list, tuple)) and Path(src).resolve() == dst.resolve():
        raise ValueError(f"the output {dst} is the input; choose another name")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not 1 <= segment_frames <= 100_000:
        raise ValueError(f"segment_frames must be from 1 to 100000, got {segment_frames}")
    if not 0 <= crf <= 63:
        raise ValueError(f"crf must be from 0 to 63, got {crf}")
    codec = _codec_for(dst, codec)
    try:
        av.codec.Codec(codec, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise ValueError(f"unknown video codec {codec!r}; try libx264, libx265, libvpx-vp9 or libsvtav1") from exc
    source = open_source(src, fps=fps)
    info = source.info
    if codec in ("libx264", "libx265") and preset not in X264_PRESETS:
        raise ValueError(f"unknown {codec} preset {preset!r}; choose one of {', '.join(X264_PRESETS)}")
    pix_fmt = _pix_fmt(codec, info)
    options = {"crf": str(crf), "preset": preset} if codec in ("libx264", "libx265") else \
        {"crf": str(crf), "b": "0"} if codec == "libvpx-vp9" else {"crf": str(crf)}
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    from .inference import default_model
    model = default_model() if model is None else model
    rank, world = distributed.rank_and_world()
    work = _work_folder(dst)
    frames_dir = Path(frames_out) if frames_out is not None else None
    stat = Path(source.path).stat() if isinstance(source, _VideoSource) else None
    plan = _Plan(source=str(Path(source.path).resolve()), source_size=stat.st_size if stat else len(source.files),
                 source_mtime=stat.st_mtime if stat else 0.0, model=_model_digest(model),
                 options={"codec": codec, "pix_fmt": pix_fmt, **options, "tile": tile, "overlap": overlap,
                          "fps": fps}, segment_frames=segment_frames)
    if rank == 0:
        _prepare_work(work, plan, frames_dir, overwrite=overwrite)
    distributed.barrier()
    done_segments = {int(p.stem[4:]) for p in work.glob("seg-*.mp4")}
    mine = (lambda seg: seg % world == rank and seg not in done_segments)
    pending: deque = deque()
    counts = {"frames": 0}

    def todo() -> Iterator[np.ndarray]:
        for index, (timing, image) in enumerate(source.frames(lambda i: mine(i // segment_frames))):
            counts["frames"] = index + 1
            if image is not None:
                pending.append((index, timing))
                yield image
            elif bar is not None:
                bar.update(1)

    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm
        total = info.frames or (round(info.duration * float(info.rate)) if info.duration and info.rate else None)
        bar = tqdm(total=total, desc=Path(dst).name, unit="frame", dynamic_ncols=True)
    writer = _SegmentWriter(work, codec=codec, pix_fmt=pix_fmt, options=options, info=info,
                            segment_frames=segment_frames, frames_out=frames_dir, stem=dst.stem)
    writer.start()
    t0 = time.perf_counter()
    restored = 0
    try:
        for image in iter_deblur(todo(), model, batch_size=batch_size, tile=tile, overlap=overlap,
                                 max_memory=max_memory):
            index, timing = pending.popleft()
            writer.put((index, timing, image))
            restored += 1
            if bar is not None:
                bar.update(1)
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    writer.put(None)
    writer.join()
    writer.raise_failure()
    seconds = time.perf_counter() - t0
    frames = counts["frames"]
    if source.stopped:
        warnings.warn(f"{source.path}: {source.stopped}; the output holds the {frames} frames before that",
                      TruncatedVideoWarning, stacklevel=2)
    distributed.barrier()
    if rank != 0:
        return None
    if frames == 0:
        raise ValueError(f"{source.path}: no frame could be decoded")
    segments = -(-frames // segment_frames)
    missing = [s for s in range(segments) if not segment_path(work, s).exists()]
    if missing:
        raise RuntimeError(f"segments {missing[:5]} of {dst} are missing in {work}; run the command again")
    _join(work, segments, dst, source, audio=audio, overwrite=overwrite)
    shutil.rmtree(work, ignore_errors=True)
    return VideoResult(path=dst, frames=frames, restored=restored, seconds=seconds, stopped=source.stopped)


def _prepare_work(work: Path, plan: _Plan, frames_dir: Path | None, *, overwrite: bool) -> None:
    """Keep the work folder of an earlier run of the same plan (its finished segments are reused);
    start afresh otherwise."""
    plan_file = work / "plan.json"
    wanted = json.loads(json.dumps(asdict(plan)))
    same = plan_file.exists() and json.loads(plan_file.read_text()) == wanted
    if not same:
        if frames_dir is not None and not overwrite and any(frames_dir.glob("*.png")):
            raise FileExistsError(f"{frames_dir} already holds images; pass overwrite=True (--overwrite) or "
                                  "choose an empty folder for the frames")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        atomic_write(plan_file, lambda tmp: Path(tmp).write_text(json.dumps(wanted, indent=1)))
    for stale in work.glob(".*.tmp"):            # segments a killed run was writing
        stale.unlink(missing_ok=True)
