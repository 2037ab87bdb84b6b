"""``rdafnet deblur``: restore blurry images (files, folders, globs) and videos.

Under ``torchrun`` each process restores its own share of the images (or of a video's segments)."""

from __future__ import annotations

import argparse
import errno
import itertools
import shutil
import sys
import warnings
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rdafnet.cli._args import (
    EXIT_OK,
    EXIT_PARTIAL,
    add_max_pixels,
    bounded,
    bundled_hint,
    even_tile,
    expand_inputs,
    max_pixels_option,
    one_line_warnings,
)
from rdafnet.evaluation.views import check_views, compare_path, write_index, write_view
from rdafnet.io.video import X264_PRESETS
from rdafnet.ops.auto import AUTO
from rdafnet.ops.int8 import INT8
from rdafnet.utils.atomic import DiskFullError
from rdafnet.utils.device import PRECISIONS
from rdafnet.utils.lock import exclusive
from rdafnet.utils.progress import progress_bar
from rdafnet.utils.signals import Interrupted


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("deblur", help="restore blurry images (files, folders, globs) and videos")
    s.add_argument("inputs", nargs="+", help="images, folders, globs, or video files")
    s.add_argument(
        "-o",
        "--out",
        required=True,
        help="output folder (same file names); or a video file (.mp4 .mov .m4v .mkv .webm) for one video "
        "input or for a folder of frames",
    )
    s.add_argument(
        "--format",
        choices=["png", "jpg", "tif", "webp", "bmp"],
        default=None,
        help="write this format instead of each input's own (16-bit inputs need png or tif)",
    )
    s.add_argument("--model", default=None, help="registered name, hub id, folder or file (default: bundled)")
    s.add_argument("--tile", type=even_tile, default=None, help="tile size for large images (e.g. 512)")
    s.add_argument("--overlap", type=bounded(int, 0), default=None, help="tile overlap (default tile/4)")
    s.add_argument(
        "--batch-size",
        type=bounded(int, 1),
        default=4,
        help="tiles per forward pass (a video with --tile also decodes this many frames at once)",
    )
    s.add_argument(
        "--max-memory",
        type=bounded(float, 0.01),
        default=None,
        metavar="GB",
        help="tile frames whose whole-frame pass would need more (default: half the available RAM, "
        "80%% of free GPU memory)",
    )
    add_max_pixels(s)
    s.add_argument(
        "--norm-window",
        type=bounded(int, 2),
        default=None,
        help="instance-norm statistics over this window (e.g. 256) instead of the whole image",
    )
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument(
        "--precision",
        default=AUTO,
        choices=[AUTO, *PRECISIONS, INT8],
        help="auto (default): the fastest for this model here, fp32 unless another is measured faster; "
        "fp32: the network's exact output; bf16: faster on GPUs and CPUs with AVX512-BF16/AMX, within "
        "1 grey level; fp16: GPUs only; int8: CPUs with VNNI/AMX, calibrated (figures: docs/performance.md)",
    )
    s.add_argument(
        "--calibration",
        nargs="+",
        default=None,
        metavar="IMAGE",
        help="frames that calibrate --precision int8 (and auto's int8 candidate): the centre 512x512 of each "
        "(default: the centre of the bundled sample)",
    )
    s.add_argument(
        "--compare",
        action="store_true",
        help="also write OUT/<name>.compare.html for each image (a before/after view with a draggable divider) "
        "and, for several images, OUT/index.html linking them",
    )
    s.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    v = s.add_argument_group("video")
    v.add_argument(
        "--codec", default=None, help="video codec (default libx264; libvpx-vp9 for .webm; also libx265, libsvtav1)"
    )
    v.add_argument(
        "--crf",
        type=bounded(int, 0, 63),
        default=None,
        help="constant rate factor: lower is better and larger (default 16, visually lossless)",
    )
    v.add_argument("--preset", default="medium", choices=X264_PRESETS, help="x264/x265 speed preset (default medium)")
    v.add_argument(
        "--fps",
        type=bounded(float, 0.01, 1000),
        default=None,
        help="frame rate when a folder of frames becomes a video (default 30)",
    )
    v.add_argument("--frames-out", default=None, metavar="DIR", help="also write the restored frames here as PNG")
    v.add_argument(
        "--segment-frames",
        type=bounded(int, 1, 100_000),
        default=32,
        help="frames per resumable segment (a killed run redoes at most one segment per process)",
    )
    v.add_argument("--no-audio", action="store_true", help="do not copy the audio streams")
    s.set_defaults(run=run)


CALIBRATION_CROP = 512


def calibration_frames(paths: list[str] | None) -> list | None:
    """The centre (at most 512x512) of each image of ``--calibration``, as model input batches."""
    if not paths:
        return None
    from rdafnet.inference.convert import prepare
    from rdafnet.io.image import read_image
    from rdafnet.utils.tensor import centre_crop

    # any image type as a (1, 3, H, W) batch in [0, 1]
    return [centre_crop(prepare(read_image(p))[0], CALIBRATION_CROP, CALIBRATION_CROP) for p in paths]


def _run_size(a: argparse.Namespace, sizes: Iterable[tuple[int, int] | None]) -> tuple[int, int]:
    """The input size a run's forward passes take, for ``--precision auto`` to decide at: the largest of the
    inputs (their headers, the first 64), cut to ``--tile`` where inference is tiled."""
    from rdafnet.ops.auto import DEFAULT_SIZE

    known = [s for s in itertools.islice(sizes, 64) if s is not None]  # (headers only: a few ms each)
    h, w = max(known, key=lambda s: s[0] * s[1]) if known else DEFAULT_SIZE
    return (min(h, a.tile), min(w, a.tile)) if a.tile else (h, w)


def _load(a: argparse.Namespace, size: tuple[int, int]):
    from rdafnet.ops import fastest, keep_freed_memory, optimize, set_norm_window
    from rdafnet.utils import distributed
    from rdafnet.utils.device import resolve_device
    from rdafnet.weights.hub import from_pretrained

    keep_freed_memory()  # no page faults on large frames (rdafnet/ops/allocator.py)
    device = resolve_device(distributed.setup(a.device))
    model = from_pretrained(a.model, device=device)
    calibration = calibration_frames(a.calibration)
    path = {"precision": a.precision}
    if a.precision == AUTO:  # rank 0 decides, so that every rank computes the same
        path = distributed.broadcast(
            fastest(model, calibration=calibration, size=size) if distributed.rank_and_world()[0] == 0 else {}
        )
    model = optimize(model, calibration=calibration, **path)
    if a.norm_window:
        set_norm_window(model, a.norm_window)
    return model


def run(a: argparse.Namespace) -> int:
    from rdafnet.utils import distributed
    from rdafnet.utils.signals import stop_signals

    try:
        with stop_signals(), max_pixels_option(a):  # on a stop signal the current file is discarded
            status = _run(a)
    finally:
        distributed.teardown()
    if a.model is None and distributed.rank_and_world()[0] == 0:
        print(bundled_hint())
    return status


def _run(a: argparse.Namespace) -> int:
    from rdafnet.io.image import FORMAT_HOLDS, held, image_size, plan_outputs
    from rdafnet.io.video import CONTAINERS, is_video
    from rdafnet.utils import distributed

    if a.calibration and a.precision not in (AUTO, INT8):
        raise ValueError(f"--calibration calibrates --precision int8 (or auto): it does nothing with {a.precision}")
    if a.overlap is not None and a.tile is None:
        raise ValueError("--overlap applies to tiles: pass --tile too")
    if a.tile is not None and a.overlap is not None and a.overlap >= a.tile:
        raise ValueError(f"--overlap ({a.overlap}) must be smaller than --tile ({a.tile})")
    videos = [Path(i) for i in a.inputs if is_video(i)]
    if videos or Path(a.out).suffix.lower() in CONTAINERS:
        return _run_video(a, videos)
    out_dir = Path(a.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"-o {out_dir} is a file; -o names the folder the results go to")
    _refuse_file_name(out_dir, "the folder the results go to (under their own names)")
    per_item = [(item, expand_inputs([item])) for item in a.inputs]
    files = [f for _, found in per_item for f in found]
    globbed = {f.resolve() for item, found in per_item if any(ch in item for ch in "*?[") for f in found}
    inside = [f for f in files if f.resolve() in globbed and out_dir.resolve() in f.resolve().parents]
    if inside:  # a glob that also matches earlier results
        print(f"skipping {len(inside)} input(s) inside the output folder {out_dir} (earlier results)", file=sys.stderr)
        files = [f for f in files if f not in inside]
    if not files:
        raise ValueError("no input images found")
    if a.format is not None:  # an output format that cannot hold what an input has: refused before any work
        lost = [(f, sorted(held(f) - FORMAT_HOLDS[a.format])) for f in files]
        lost = [(f, what) for f, what in lost if what]
        if lost:
            named = "; ".join(f"the {' and '.join(w)} of {f}" for f, w in lost[:5]) + (" ..." if len(lost) > 5 else "")
            raise ValueError(
                f"--format {a.format} cannot hold {named}: pass --format png or tif, or leave --format out "
                "(each output then keeps its input's format)"
            )
    names = [f.name if a.format is None else f"{f.stem}.{a.format}" for f in files]
    sources = plan_outputs(files, [out_dir / n for n in names])
    if a.compare:
        check_views(list(sources))
    with exclusive(out_dir, "rdafnet deblur"):  # a second run on this folder is refused, not interleaved
        model = _load(a, _run_size(a, (image_size(f) for f in files)))  # all checks above: nothing loaded before
        mine = distributed.shard(list(sources.items()))
        counts = {"done": 0, "skipped": 0}
        failed: list[Path] = []
        try:
            bar = progress_bar(mine, desc="images", unit="img", disable=len(mine) < 2)
            _restore_images(a, model, bar, counts, failed)
        except Interrupted as stop:
            raise Interrupted(
                stop.signum,
                f"stopped by {stop.name} after {counts['done']} restored, no file half-written; run the same "
                "command to go on (finished images are skipped)",
            ) from None
    print(
        f"{counts['done']} restored, {counts['skipped']} skipped (exist; --overwrite replaces), "
        f"{len(failed)} failed -> {out_dir}"
    )
    if a.compare:
        views = [compare_path(t) for t in sources if compare_path(t).exists()]
        index = write_index(out_dir, views) if len(sources) > 1 else None
        print(f"before/after views: {index or (views[0] if views else 'none written')}")
    return EXIT_PARTIAL if failed else EXIT_OK


def _restore_images(
    a: argparse.Namespace, model: Any, jobs: Iterable[tuple[Path, Path]], counts: dict[str, int], failed: list[Path]
) -> None:
    """Restore each (target, source) of ``jobs``, counting into ``counts`` and naming failures in ``failed``."""
    from rdafnet.inference.deblur import deblur
    from rdafnet.io.image import ImageReadError, read_image, read_metadata, write_image

    for target, f in jobs:
        if target.exists() and not a.overwrite:
            counts["skipped"] += 1
            if a.compare and not compare_path(target).exists():  # a resumed run: the view of an earlier result
                write_view(f, target, read_image(f), read_image(target), overwrite=False)
            continue
        try:
            image = read_image(f)
            big = a.tile and max(image.shape[:2]) > 2 * a.tile
            result = deblur(
                image[..., 0] if image.shape[2] == 1 else image,
                model,
                tile=a.tile,
                overlap=a.overlap,
                batch_size=a.batch_size,
                progress=bool(big),
                max_memory=None if a.max_memory is None else int(a.max_memory * 2**30),
            )
            write_image(target, result, overwrite=a.overwrite, metadata=read_metadata(f))
            if a.compare:
                write_view(f, target, image, result, overwrite=a.overwrite)
        except OSError as exc:
            if exc.errno in _DOOMED:  # no later image could be written either: stop here
                what = str(exc) if isinstance(exc, DiskFullError) else f"cannot write {target}: {exc.strerror}"
                done = counts["done"]
                raise OSError(exc.errno, f"{what}; {done} restored before this, nothing partial was left") from exc
            _report(f, exc, failed)
        except (ImageReadError, ValueError, RuntimeError) as exc:  # this image only: the batch goes on
            _report(f, exc, failed)
        else:
            counts["done"] += 1


def _frame_size(src: Path | list[Path]) -> tuple[int, int] | None:
    from rdafnet.io.image import image_size
    from rdafnet.io.video import probe

    if isinstance(src, list):
        return image_size(src[0]) if src else None
    info = probe(src)
    return info.height, info.width


def _refuse_file_name(out: Path, what: str) -> None:
    """Refuse an ``-o`` that does not exist and is named like an image file: it would become a folder of
    that name."""
    from rdafnet.io.image import IMAGE_SUFFIXES

    if not out.exists() and out.suffix.lower() in (*IMAGE_SUFFIXES, ".gif"):
        raise ValueError(
            f"-o {out} looks like an image file, but -o names {what}; pass a folder, e.g. -o {out.parent / 'restored'}"
        )


def _run_video(a: argparse.Namespace, videos: list[Path]) -> int:
    from rdafnet.io.video import CONTAINERS, TruncatedVideoWarning, is_video

    out = Path(a.out)
    if is_video(out) and out.suffix.lower() not in CONTAINERS:
        raise ValueError(f"cannot write {out.suffix} video; name the output {' / '.join(CONTAINERS)}")
    if a.format is not None:
        raise ValueError("--format applies to images; a video's format follows the -o suffix")
    if videos and len(videos) != len(a.inputs):
        raise ValueError("restore videos and images in separate commands")
    if not videos:  # a folder (or list) of frames -> one video
        files = expand_inputs(a.inputs)
        if not files:
            raise ValueError("no input images found for the video")
        jobs: list[tuple[Path | list[Path], Path]] = [(files, out)]
    elif out.suffix.lower() in CONTAINERS:
        if len(videos) > 1:
            raise ValueError(f"{len(videos)} videos cannot all be written to {out}; pass an output folder")
        jobs = [(videos[0], out)]
    else:
        if out.exists() and not out.is_dir():
            raise ValueError(f"-o {out} is a file; pass a folder, or a video name ending {' '.join(CONTAINERS)}")
        _refuse_file_name(out, f"a video file ({' / '.join(CONTAINERS)}) or the folder restored videos go to")
        jobs = [(v, out / (v.name if v.suffix.lower() in CONTAINERS else f"{v.stem}.mp4")) for v in videos]
    for src, dst in jobs:
        if isinstance(src, Path) and not src.exists():
            raise FileNotFoundError(f"{src} not found")
        if dst.exists() and not a.overwrite:
            raise FileExistsError(f"{dst} exists; pass --overwrite to replace it")
    with ExitStack() as held:
        held.enter_context(one_line_warnings("note"))  # DroppedStreamsWarning: one line before the first frame
        for _, dst in jobs:  # one writer per output video
            held.enter_context(exclusive(dst, "rdafnet deblur (video)"))
        model = _load(a, _run_size(a, (_frame_size(src) for src, _ in jobs)))
        status = EXIT_OK
        warnings.simplefilter("ignore", TruncatedVideoWarning)  # reported below as an error line
        for src, dst in jobs:
            try:
                result = _deblur_video(a, src, dst, model)
            except Interrupted as stop:
                raise Interrupted(
                    stop.signum,
                    f"stopped by {stop.name} while restoring {src}: its finished segments are kept beside {dst}; "
                    "run the same command to resume",
                ) from None
            except DiskFullError as exc:  # name the user's video, not the segment file being written
                free = shutil.disk_usage(dst.parent).free / 2**20
                raise DiskFullError(
                    exc.errno,
                    f"cannot write {dst}: the disk is full ({free:.1f} MiB free there); its finished segments are "
                    "kept beside it: free some space and run the same command to resume",
                ) from exc
            if result is None:  # a torchrun rank other than 0: rank 0 reports
                continue
            if result.stopped:
                print(f"error: {src}: {result.stopped}", file=sys.stderr)
                status = EXIT_PARTIAL
            print(
                f"{result.frames} frames -> {dst} ({result.restored} restored now, "
                f"{result.restored / max(result.seconds, 1e-9):.2f} frames/s)"
            )
    return status


def _deblur_video(a: argparse.Namespace, src: Path | list[Path], dst: Path, model: Any) -> Any:
    from rdafnet.inference.video import deblur_video
    from rdafnet.io.video import DEFAULT_CRF

    return deblur_video(
        src,
        dst,
        model,
        codec=a.codec,
        crf=DEFAULT_CRF if a.crf is None else a.crf,
        preset=a.preset,
        tile=a.tile,
        overlap=a.overlap,
        batch_size=a.batch_size if a.tile else 1,  # whole frames: one per pass
        max_memory=None if a.max_memory is None else int(a.max_memory * 2**30),
        fps=a.fps,
        frames_out=a.frames_out,
        audio=not a.no_audio,
        overwrite=a.overwrite,
        segment_frames=a.segment_frames,
        progress=True,
    )


# write errors after which no other output can be written either
_DOOMED = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def _report(path: Path, exc: Exception, failed: list[Path]) -> None:
    from tqdm.std import tqdm

    tqdm.write(f"error: {path}: {exc}", file=sys.stderr)  # on a line of its own, above the progress bar
    failed.append(path)
