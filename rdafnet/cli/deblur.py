"""``rdafnet deblur``: restore blurry images (files, folders, globs)."""
from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from ..precision import PRECISIONS
from ._args import EXIT_OK, EXIT_PARTIAL, bounded, even_tile


def _expand_inputs(inputs: list[str]) -> list[Path]:
    import glob

    from ..io import IMAGE_SUFFIXES
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            files += sorted(Path(f) for f in glob.glob(item, recursive=True) if Path(f).is_file())
        else:
            files.append(p)
    return files


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("deblur", help="restore blurry images (files, folders, globs)")
    s.add_argument("inputs", nargs="+")
    s.add_argument("-o", "--out", required=True, help="output folder (same file names)")
    s.add_argument("--format", choices=["png", "jpg", "tif", "webp", "bmp"], default=None,
                   help="write this format instead of each input's own (16-bit inputs need png or tif)")
    s.add_argument("--model", default=None, help="registered name, hub id, folder or file (default: bundled)")
    s.add_argument("--tile", type=even_tile, default=None, help="tile size for large images (e.g. 512)")
    s.add_argument("--overlap", type=bounded(int, 0), default=None, help="tile overlap (default tile/4)")
    s.add_argument("--batch-size", type=bounded(int, 1), default=4, help="tiles per forward pass")
    s.add_argument("--max-memory", type=bounded(float, 0.01), default=None, metavar="GB",
                   help="tile frames whose whole-frame pass would need more (default: half the available RAM, "
                        "80%% of free GPU memory)")
    s.add_argument("--norm-window", type=bounded(int, 2), default=None,
                   help="instance-norm statistics over this window (e.g. 256) instead of the whole image")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                   help="fp32: exact; bf16: faster than fp32 on GPUs and CPUs with AVX512-BF16/AMX, not exact, "
                        "but emulated and slower on other CPUs; fp16: GPUs only (figures: docs/performance.md)")
    s.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    s.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..hub import from_pretrained
    from ..inference import deblur, resolve_device
    from ..io import ImageReadError, plan_outputs, read_image, read_metadata, write_image
    from ..ops import optimize, set_norm_window
    if a.overlap is not None and a.tile is None:
        raise ValueError("--overlap applies to tiles: pass --tile too")
    if a.tile is not None and a.overlap is not None and a.overlap >= a.tile:
        raise ValueError(f"--overlap ({a.overlap}) must be smaller than --tile ({a.tile})")
    out_dir = Path(a.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"-o {out_dir} is a file; -o names the folder the results go to")
    files = _expand_inputs(a.inputs)
    if not files:
        raise ValueError("no input images found")
    names = [f.name if a.format is None else f"{f.stem}.{a.format}" for f in files]
    sources = plan_outputs(files, [out_dir / n for n in names])
    device = resolve_device(a.device)          # all checks above: nothing is loaded for a bad command
    model = optimize(from_pretrained(a.model, device=device), precision=a.precision)
    if a.norm_window:
        set_norm_window(model, a.norm_window)
    failed, skipped, done = [], 0, 0
    for target, f in tqdm(sources.items(), desc="images", unit="img", disable=len(files) < 2):
        if target.exists() and not a.overwrite:
            skipped += 1
            continue
        try:
            image = read_image(f)
            big = a.tile and max(image.shape[:2]) > 2 * a.tile
            result = deblur(image[..., 0] if image.shape[2] == 1 else image, model, tile=a.tile,
                            overlap=a.overlap, batch_size=a.batch_size, progress=bool(big),
                            max_memory=None if a.max_memory is None else int(a.max_memory * 2 ** 30))
            write_image(target, result, overwrite=a.overwrite, metadata=read_metadata(f))
        except OSError as exc:
            if exc.errno in _DOOMED:           # no later image could be written either: stop here
                raise OSError(exc.errno, f"cannot write {target}: {exc.strerror}; {done} restored before this, "
                                         "nothing partial was left") from exc
            _report(f, exc, failed)
        except (ImageReadError, ValueError, RuntimeError) as exc:     # this image only: the batch goes on
            _report(f, exc, failed)
        else:
            done += 1
    print(f"{done} restored, {skipped} skipped (exist; --overwrite replaces), {len(failed)} failed -> {out_dir}")
    return EXIT_PARTIAL if failed else EXIT_OK


# write errors after which no other output can be written either
_DOOMED = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def _report(path: Path, exc: Exception, failed: list[Path]) -> None:
    print(f"error: {path}: {exc}", file=sys.stderr)
    failed.append(path)
