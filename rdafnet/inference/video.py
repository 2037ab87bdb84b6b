"""``deblur_video``: video in, video out: decode with PyAV (FFmpeg's libraries), restore every frame, encode.

The restored video is written as segments of ``segment_frames`` frames into a work folder beside the
output (each segment file appears atomically, once complete), then the segments are joined without
re-encoding and the source's audio is copied in, into a temporary file that is renamed to the output.
A killed run therefore resumes from its last finished segment, and the output name only ever holds a
complete file. Under ``torchrun`` each process restores every ``world_size``-th segment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rdafnet.inference.deblur import iter_deblur
from rdafnet.io.segments import DroppedStreamsWarning, SegmentWriter, check_streams, join_segments, segment_path
from rdafnet.io.video import (
    CONTAINERS,
    DEFAULT_CRF,
    X264_PRESETS,
    ImageSource,
    TruncatedVideoWarning,
    VideoResult,
    VideoSource,
    codec_for,
    import_av,
    open_source,
    pix_fmt_for,
)
from rdafnet.utils import distributed
from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.checkpoint import state_digest


@dataclass(frozen=True)
class _Plan:
    """Everything that decides a segment's content: a work folder from another plan is not reused."""

    source: str
    source_size: int
    source_mtime: float
    model: str
    options: dict[str, Any]
    segment_frames: int


def _work_folder(dst: Path) -> Path:
    name = f".{dst.name}.rdafnet-work"
    if len(os.fsencode(name)) > 255:  # a long output name: a short one of fixed length
        name = f".rdafnet-work-{hashlib.sha256(os.fsencode(dst.name)).hexdigest()[:16]}"
    return dst.parent / name


def deblur_video(
    src: str | Path | Sequence[str | Path],
    dst: str | Path,
    model: torch.nn.Module | None = None,
    *,
    codec: str | None = None,
    crf: int = DEFAULT_CRF,
    preset: str = "medium",
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 1,
    max_memory: int | None = None,
    fps: float | None = None,
    frames_out: str | Path | None = None,
    audio: bool = True,
    overwrite: bool = False,
    segment_frames: int = 32,
    progress: bool = False,
) -> VideoResult | None:
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
    av = import_av()
    dst = Path(dst)
    if dst.suffix.lower() not in CONTAINERS:
        raise ValueError(
            f"cannot write video as {dst.suffix or 'a file without suffix'}; name the output {' / '.join(CONTAINERS)}"
        )
    if isinstance(src, (str, Path)) and Path(src).resolve() == dst.resolve():
        raise ValueError(f"the output {dst} is the input; choose another name")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not 1 <= segment_frames <= 100_000:
        raise ValueError(f"segment_frames must be from 1 to 100000, got {segment_frames}")
    if not 0 <= crf <= 63:
        raise ValueError(f"crf must be from 0 to 63, got {crf}")
    codec = codec_for(dst, codec)
    try:
        av.codec.Codec(codec, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise ValueError(f"unknown video codec {codec!r}; try libx264, libx265, libvpx-vp9 or libsvtav1") from exc
    source = open_source(src, fps=fps)
    info = source.info
    if codec in ("libx264", "libx265") and preset not in X264_PRESETS:
        raise ValueError(f"unknown {codec} preset {preset!r}; choose one of {', '.join(X264_PRESETS)}")
    pix_fmt = pix_fmt_for(codec, info)
    options = (
        {"crf": str(crf), "preset": preset}
        if codec in ("libx264", "libx265")
        else {"crf": str(crf), "b": "0"}
        if codec == "libvpx-vp9"
        else {"crf": str(crf)}
    )
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    dropped = check_streams(source, dst, audio=audio)  # before any work: nothing to throw away later
    if dropped:
        warnings.warn(
            f"{dst} will not hold these streams of {source.path}: {', '.join(dropped)} (only video and audio "
            "are copied)",
            DroppedStreamsWarning,
            stacklevel=2,
        )
    from rdafnet.inference.deblur import default_model

    model = default_model() if model is None else model
    rank, world = distributed.rank_and_world()
    work = _work_folder(dst)
    frames_dir = Path(frames_out) if frames_out is not None else None
    stat = Path(source.path).stat() if isinstance(source, VideoSource) else None
    plan = _Plan(
        source=str(Path(source.path).resolve()),
        source_size=stat.st_size if stat else len(source.files) if isinstance(source, ImageSource) else 0,
        source_mtime=stat.st_mtime if stat else 0.0,
        model=state_digest(model),
        options={"codec": codec, "pix_fmt": pix_fmt, **options, "tile": tile, "overlap": overlap, "fps": fps},
        segment_frames=segment_frames,
    )
    if rank == 0:
        _prepare_work(work, plan, frames_dir, overwrite=overwrite)
    distributed.barrier()
    done_segments = {int(p.stem[4:]) for p in work.glob("seg-*.mp4")}

    def mine(seg: int) -> bool:
        return seg % world == rank and seg not in done_segments

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
        from rdafnet.utils.progress import progress_bar

        total = info.frames or (round(info.duration * float(info.rate)) if info.duration and info.rate else None)
        bar = progress_bar(total=total, desc=Path(dst).name, unit="frame", dynamic_ncols=True)
    writer = SegmentWriter(
        work,
        codec=codec,
        pix_fmt=pix_fmt,
        options=options,
        info=info,
        segment_frames=segment_frames,
        frames_out=frames_dir,
        stem=dst.stem,
    )
    writer.start()
    t0 = time.perf_counter()
    restored = 0
    try:
        for image in iter_deblur(
            todo(), model, batch_size=batch_size, tile=tile, overlap=overlap, max_memory=max_memory
        ):
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
        warnings.warn(
            f"{source.path}: {source.stopped}; the output holds the {frames} frames before that",
            TruncatedVideoWarning,
            stacklevel=2,
        )
    distributed.barrier()
    if rank != 0:
        return None
    if frames == 0:
        raise ValueError(f"{source.path}: no frame could be decoded")
    segments = -(-frames // segment_frames)
    missing = [s for s in range(segments) if not segment_path(work, s).exists()]
    if missing:
        raise RuntimeError(f"segments {missing[:5]} of {dst} are missing in {work}; run the command again")
    join_segments(work, segments, dst, source, audio=audio, overwrite=overwrite)
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
            raise FileExistsError(
                f"{frames_dir} already holds images; pass overwrite=True (--overwrite) or "
                "choose an empty folder for the frames"
            )
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        atomic_write(plan_file, lambda tmp: Path(tmp).write_text(json.dumps(wanted, indent=1)))
    for stale in work.glob(".*.tmp"):  # segments a killed run was writing
        stale.unlink(missing_ok=True)
