"""Restored frames into video segments (a background encoder) and segments into one file with the source audio."""

from __future__ import annotations

import heapq
import io
import queue
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rdafnet.io.image import write_image
from rdafnet.io.video import CONTAINERS, ImageSource, VideoInfo, VideoSource, import_av
from rdafnet.utils.atomic import atomic_write


class DroppedStreamsWarning(UserWarning):
    """Streams of the source that the restored video will not hold (subtitles, data, extra video)."""


def check_streams(source: VideoSource | ImageSource, dst: Path, *, audio: bool) -> list[str]:
    """What the output can hold, checked before the first frame is restored: audio that ``dst``'s container
    cannot take raises ``ValueError`` (what to do instead); the streams that will not be copied
    (subtitles, data, attachments, video beyond the first) are returned, described."""
    if not isinstance(source, VideoSource):
        return []
    av = import_av()
    with av.open(str(source.path)) as src:
        if audio and src.streams.audio:
            with av.open(io.BytesIO(), "w", format=CONTAINERS[dst.suffix.lower()]) as out:
                for a in src.streams.audio:
                    try:
                        out.add_stream_from_template(a)
                    except (av.error.FFmpegError, ValueError) as exc:
                        raise ValueError(
                            f"the {a.codec_context.name} audio of {source.path} cannot go into {dst.suffix} ({exc}); "
                            "write .mkv, which takes any audio, or pass --no-audio (audio=False)"
                        ) from exc
                out.start_encoding()
        first = src.streams.video[0] if src.streams.video else None
        return [
            f"{s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else s.codec_tag or 'unknown'})"
            for s in src.streams
            if s.type != "audio" and s is not first
        ]


_ABORT = ("abort",)  # a failed or interrupted run: the open segment is dropped, not committed


def displayed(image: np.ndarray, rotation: int) -> np.ndarray:
    """A decoded frame as players show it: turned counterclockwise by the display matrix's ``rotation``
    (degrees, as FFmpeg's ``av_display_rotation_get`` gives it and its autorotate applies it)."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


class SegmentWriter(threading.Thread):
    """Encodes restored frames into segment files in a background thread (a bounded queue feeds it)."""

    def __init__(
        self,
        work: Path,
        *,
        codec: str,
        pix_fmt: str,
        options: dict[str, str],
        info: VideoInfo,
        segment_frames: int,
        frames_out: Path | None,
        stem: str,
    ) -> None:
        super().__init__(daemon=True, name="rdafnet-encode")
        self.q: queue.Queue = queue.Queue(maxsize=4)
        self.work, self.codec, self.pix_fmt, self.options, self.info = work, codec, pix_fmt, options, info
        self.segment_frames, self.frames_out, self.stem = segment_frames, frames_out, stem
        self.error: BaseException | None = None
        self._ahead: list = []  # an item read past the end of a segment: the next one's first

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
        while self.is_alive():  # a thread that died on an error reads no more
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
                atomic_write(segment_path(self.work, seg), partial(self._encode, seg=seg, first=item))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller by put()/join
            self.error = exc

    def _encode(self, tmp: str, seg: int, first: tuple) -> None:
        av = import_av()
        info = self.info
        with av.open(tmp, "w", format="mp4", options=exact_times(info)) as out:
            stream = out.add_stream(self.codec, rate=info.rate, options=dict(self.options))
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, self.pix_fmt
            stream.time_base = stream.codec_context.time_base = info.time_base
            for key, value in info.colour.items():
                setattr(stream.codec_context, key, value)
            item: tuple | None = first
            while item is not None and item is not _ABORT and item[0] // self.segment_frames == seg:
                index, (pts, duration), image = item
                if self.frames_out is not None:  # as a player shows the frame: turned by the display rotation
                    shown = displayed(image, self.info.rotation)
                    write_image(self.frames_out / f"{self.stem}_{index:06d}.png", shown, overwrite=True)
                frame = av.VideoFrame.from_ndarray(image, format="rgb48le" if image.dtype == np.uint16 else "rgb24")
                frame = frame.reformat(
                    format=self.pix_fmt,
                    dst_colorspace=info.colour.get("colorspace") or None,
                    dst_color_range=info.colour.get("color_range") or None,
                )
                frame.pts, frame.duration, frame.time_base = pts, duration, info.time_base
                out.mux(stream.encode(frame))
                item = self._next()
            if item is _ABORT:
                raise InterruptedError("the run stopped before this segment was complete")
            out.mux(stream.encode())
            self._ahead.append(item)


def exact_times(info: VideoInfo, container: str = "mp4") -> dict[str, str]:
    """Muxer options that keep every timestamp exact: MP4/MOV edit lists are written in the movie
    time scale (1/1000 s by default), which would round the start of each segment."""
    return {"movie_timescale": str(info.time_base.denominator)} if container in ("mp4", "mov") else {}


def segment_path(work: Path, seg: int) -> Path:
    return work / f"seg-{seg:06d}.mp4"


def join_segments(
    work: Path, segments: int, dst: Path, source: VideoSource | ImageSource, *, audio: bool, overwrite: bool
) -> None:
    """Segments -> one file, with the source's audio packets copied unchanged and the rotation kept."""
    av = import_av()
    container = CONTAINERS[dst.suffix.lower()]

    def write(tmp: str) -> None:
        inputs = [av.open(str(segment_path(work, s))) for s in range(segments)]
        src = av.open(str(source.path)) if audio and isinstance(source, VideoSource) else None
        try:
            with av.open(tmp, "w", format=container, options=exact_times(source.info, container)) as out:
                video = out.add_stream_from_template(inputs[0].streams.video[0])
                video.time_base = source.info.time_base
                if source.info.rotation:
                    video.set_display_rotation(source.info.rotation)
                tracks = []
                for a in src.streams.audio if src is not None else ():
                    try:
                        tracks.append((a, out.add_stream_from_template(a)))
                    except (av.error.FFmpegError, ValueError) as exc:
                        raise ValueError(
                            f"the {a.codec_context.name} audio of {source.path} cannot go into "
                            f"{dst.suffix} ({exc}); write .mkv, which takes any audio"
                        ) from exc

                def packets(demux: Iterator[Any], streams: dict[int, Any], order: int) -> Iterator[tuple]:
                    for n, p in enumerate(demux):
                        if p.dts is None and p.pts is None:  # flush packets carry nothing
                            continue
                        t = (p.dts if p.dts is not None else p.pts) * p.time_base
                        yield t, order, n, p, streams[p.stream.index]

                streams = [packets((p for c in inputs for p in c.demux(c.streams.video[0])), {0: video}, 0)]
                if src is not None and tracks:
                    streams.append(packets(src.demux(*[a for a, _ in tracks]), {a.index: o for a, o in tracks}, 1))
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
