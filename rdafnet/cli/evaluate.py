"""``rdafnet eval``: PSNR/SSIM of a model on a folder of pairs, or NIQE before and after on real photos
without a sharp reference (``--no-reference``); a CSV and a before/after sheet on request."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdafnet.cli._args import (
    EXIT_OK,
    EXIT_PARTIAL,
    add_max_pixels,
    bounded,
    check_output_file,
    device,
    expand_inputs,
    max_pixels_option,
)

if TYPE_CHECKING:
    from rdafnet.data.benchmarks import Benchmark
    from rdafnet.evaluation.sheet import SheetRow

_SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".html")


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("eval", help="PSNR/SSIM on pairs, or NIQE on real photos (--no-reference); CSV, sheet")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--data",
        help="pairs to score (under torchrun: shared out): a benchmark as distributed (GOPRO_Large: its test/ "
        "split; HIDE_dataset; a RealBlur list file; input/ + target/), a folder of blur/ + sharp/, or a pair list",
    )
    what.add_argument(
        "--no-reference",
        dest="photos",
        nargs="+",
        metavar="PHOTO",
        help="real photos without a sharp frame (files, folders, globs): NIQE of input and output",
    )
    s.add_argument(
        "--restored",
        metavar="DIR",
        help="with --no-reference: score the restorations already in DIR (same names) instead of restoring",
    )
    s.add_argument("--split", choices=("test", "train"), default=None, help="GOPRO_Large's split (test unless asked)")
    s.add_argument(
        "--blur-folder",
        choices=("blur", "blur_gamma"),
        default="blur",
        help="GoPro's blurry frames: blur (default, as the paper) or blur_gamma",
    )
    s.add_argument("--model", default=None)
    s.add_argument("--out", default=None, help="also write the restored images here")
    add_max_pixels(s)
    s.add_argument("--csv", metavar="FILE", help="write the table as CSV")
    s.add_argument(
        "--sheet",
        metavar="FILE",
        help="before/after sheet (.png, .jpg or .html): the same crop of input, output (and sharp) for each image",
    )
    s.add_argument("--sheet-crop", type=bounded(int, 32, 2048), default=256, help="crop size in pixels (256)")
    s.add_argument(
        "--sheet-max",
        type=bounded(int, 1, 500),
        default=24,
        help="at most this many images on the sheet, evenly spread (24)",
    )
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--device", type=device, default=None, help="auto, cpu, cuda or cuda:N")
    s.set_defaults(run=run)


def _check(a: argparse.Namespace) -> None:
    """Refusals that need no model: before anything is loaded or restored."""
    if a.restored is not None and a.photos is None:
        raise ValueError("--restored scores existing restorations of real photos: use it with --no-reference")
    if a.restored is not None and a.out is not None:
        raise ValueError("--out writes restorations, --restored reads existing ones: pass one of them")
    if a.out is not None and Path(a.out).exists() and not Path(a.out).is_dir():
        raise ValueError(f"--out {a.out} is a file; --out names the folder the restored images are written to")
    if a.sheet is not None and Path(a.sheet).suffix.lower() not in _SHEET_SUFFIXES:
        raise ValueError(f"--sheet {a.sheet}: unsupported format; use {', '.join(_SHEET_SUFFIXES)}")
    inputs = _inputs(a)
    for opt, path in (("--csv", a.csv), ("--sheet", a.sheet)):
        check_output_file(opt, path, overwrite=a.overwrite, inputs=inputs)
    if a.csv is not None and a.sheet is not None and Path(a.csv).resolve() == Path(a.sheet).resolve():
        raise ValueError(f"--csv and --sheet name the same file {a.csv}; name two")


def _inputs(a: argparse.Namespace) -> list[Path]:
    """Every file this run reads (the photos or pairs, earlier restorations, a model file or folder)."""
    files = expand_inputs(a.photos) if a.photos is not None else [p for pair in _benchmark(a).pairs for p in pair]
    if a.restored is not None and Path(a.restored).is_dir():
        files += [p for p in Path(a.restored).iterdir() if p.is_file()]
    if a.model is not None and Path(a.model).exists():
        model = Path(a.model)
        files += [p for p in model.iterdir() if p.is_file()] if model.is_dir() else [model]
    return files


class _Sheet:
    """Keeps the crops of an evenly spread selection of ``total`` images, as they are scored."""

    def __init__(self, a: argparse.Namespace, total: int, titles: tuple[str, ...]) -> None:
        import numpy as np

        self.crop, self.titles, self.seen = a.sheet_crop, titles, 0
        self.rows: list[SheetRow] = []
        self.keep = (
            set(np.linspace(0, total - 1, min(total, a.sheet_max)).round().astype(int).tolist()) if total else set()
        )

    def __call__(self, row: dict[str, Any], images: list[Any]) -> None:
        from rdafnet.evaluation.sheet import SheetRow, blurriest_window, crops

        index, self.seen = self.seen, self.seen + 1
        if index not in self.keep:
            return
        ref = images[2] if len(images) > 2 else None
        full = SheetRow(row["image"], _label(row), images, self.titles)
        corner = blurriest_window(images[0], self.crop, reference=ref)
        self.rows.append(SheetRow(full.name, full.label, crops(full, self.crop, corner), self.titles))  # crops only

    def write(self, path: str, overwrite: bool) -> None:
        from rdafnet.evaluation.sheet import write_sheet

        write_sheet(path, self.rows, crop=self.crop, corners=[(0, 0)] * len(self.rows), overwrite=overwrite)
        print(f"sheet: {path} ({len(self.rows)} images)")


def _writer(out: str | None) -> Any:
    """The lock of the ``--out`` folder (one run writing it at a time), or nothing without ``--out``."""
    from contextlib import nullcontext

    from rdafnet.utils.lock import exclusive

    return exclusive(out, "rdafnet eval") if out else nullcontext()


def _label(row: dict[str, Any]) -> str:
    if "niqe_input" in row:
        return f"NIQE {row['niqe_input']:.2f} -> {row['niqe_output']:.2f} (lower is better)"
    return f"PSNR {row['psnr_blur']:.2f} -> {row['psnr']:.2f} dB, SSIM {row['ssim_blur']:.4f} -> {row['ssim']:.4f}"


def _write_csv(path: str, rows: list[dict[str, Any]], overwrite: bool) -> None:
    import csv
    import io

    from rdafnet.utils.atomic import atomic_write

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["image"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buf.getvalue()  # file names that are not UTF-8 keep their bytes (surrogate escapes)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, errors="surrogateescape"), overwrite=overwrite)
    print(f"csv: {path} ({len(rows)} rows)")


def run(a: argparse.Namespace) -> int:
    _check(a)
    from rdafnet.ops import keep_freed_memory
    from rdafnet.utils.signals import Interrupted, stop_signals

    keep_freed_memory()
    try:
        with stop_signals(), max_pixels_option(a):  # on a stop signal the image being written is discarded
            return _run_photos(a) if a.photos is not None else _run_pairs(a)
    except Interrupted as stop:
        again = (
            f"run the same command to go on (the restored images in {a.out} are scored, not computed again)"
            if a.out
            else "run it again (pass --out to keep the restored images, so that a stopped run goes on)"
        )
        raise Interrupted(stop.signum, f"stopped by {stop.name}, no file half-written; {again}") from None


def _benchmark(a: argparse.Namespace) -> Benchmark:
    from rdafnet.data.benchmarks import find_benchmark

    return find_benchmark(a.data, split=a.split, blur=a.blur_folder)


def _run_pairs(a: argparse.Namespace) -> int:
    from rdafnet.evaluation.evaluate import evaluate
    from rdafnet.utils import distributed
    from rdafnet.weights.hub import from_pretrained

    bench = _benchmark(a)
    pairs = bench.pairs
    print(f"scoring {len(pairs)} pairs: {bench.note}")
    failed: list[str] = []

    def on_error(path: Path, exc: Exception) -> None:  # one bad pair among many: named, the rest scored
        failed.append(str(path))
        print(f"error: {exc}", file=sys.stderr)

    sheet = _Sheet(a, len(pairs), ("input", "output", "sharp")) if a.sheet else None
    try:
        model = from_pretrained(a.model, device=distributed.setup(a.device))
        with _writer(a.out):
            rows = evaluate(
                model,
                pairs,
                device=next(model.parameters()).device,
                out_dir=a.out,
                overwrite=a.overwrite,
                shard=True,
                on_image=sheet,
                on_error=on_error,
            )
    finally:
        distributed.teardown()
    if rows is None:  # a torchrun rank other than 0: rank 0 prints the table
        return EXIT_OK
    if not rows:
        raise ValueError(f"no pair of {a.data} could be scored (each is named above)")
    _print_table(rows, bench, model)
    if a.csv:
        _write_csv(a.csv, rows, a.overwrite)
    if sheet is not None and sheet.rows:  # under torchrun, rank 0 holds the crops of its own share
        sheet.write(a.sheet, a.overwrite)
    return EXIT_PARTIAL if failed else EXIT_OK


def _print_table(rows: list[dict[str, Any]], bench: Benchmark, model: Any) -> None:
    """Rows per image, the mean of each subset (HIDE) and of all, and the paper's figures where known."""
    import numpy as np

    from rdafnet.data.pairs import pair_names

    subset_of = dict(zip(pair_names(bench.pairs), (k for k, ps in bench.subsets.items() for _ in ps), strict=True))
    for r in rows:
        if len(bench.subsets) > 1:
            r["subset"] = subset_of[r["image"]]
    print(f"{'image':48s} {'PSNR in':>8s} {'PSNR out':>9s} {'SSIM in':>8s} {'SSIM out':>9s}")
    for r in rows:
        print(f"{r['image'][:48]:48s} {r['psnr_blur']:8.2f} {r['psnr']:9.2f} {r['ssim_blur']:8.4f} {r['ssim']:9.4f}")
    means = [(f"mean {k}", [r for r in rows if r.get("subset") == k]) for k in bench.subsets if len(bench.subsets) > 1]
    for label, chosen in [*means, (f"mean ({len(rows)} images)", rows)]:
        if chosen:
            m = {k: float(np.mean([r[k] for r in chosen])) for k in ("psnr_blur", "psnr", "ssim_blur", "ssim")}
            print(f"{label:48s} {m['psnr_blur']:8.2f} {m['psnr']:9.2f} {m['ssim_blur']:8.4f} {m['ssim']:9.4f}")
    # the paper's figure for this benchmark and model (the registry's, kept by saved copies of the model)
    paper = ((model.pretrained or {}).get("paper") or {}).get(bench.name)
    if paper:
        label = f"paper ({bench.name}, {model.pretrained.get('name')})"
        print(f"{label:48s} {'':8s} {paper['psnr']:9.2f} {'':8s} {paper['ssim']:9.4f}")


def _run_photos(a: argparse.Namespace) -> int:
    import numpy as np

    from rdafnet.evaluation.evaluate import evaluate_no_reference
    from rdafnet.utils.device import resolve_device
    from rdafnet.weights.hub import from_pretrained

    files = expand_inputs(a.photos)
    if not files:
        raise ValueError(f"no images found in {' '.join(a.photos)}")
    model = None if a.restored is not None else from_pretrained(a.model, device=resolve_device(a.device))
    failed: list[str] = []

    def on_error(path: Path, exc: Exception) -> None:
        failed.append(str(path))
        print(f"error: {path}: {exc}", file=sys.stderr)

    sheet = _Sheet(a, len(files), ("input", "output")) if a.sheet else None
    with _writer(a.out):
        rows = evaluate_no_reference(
            model, files, restored=a.restored, out_dir=a.out, overwrite=a.overwrite, on_error=on_error, on_image=sheet
        )
    print(f"{'image':48s} {'NIQE in':>8s} {'NIQE out':>9s} {'change':>7s}   (NIQE: lower is better)")
    for r in rows:
        print(
            f"{r['image'][:48]:48s} {r['niqe_input']:8.3f} {r['niqe_output']:9.3f} "
            f"{r['niqe_output'] - r['niqe_input']:+7.3f}"
        )
    if rows:
        m_in, m_out = (float(np.mean([r[k] for r in rows])) for k in ("niqe_input", "niqe_output"))
        print(f"{'mean (' + str(len(rows)) + ' images)':48s} {m_in:8.3f} {m_out:9.3f} {m_out - m_in:+7.3f}")
    if a.csv:
        _write_csv(a.csv, rows, a.overwrite)
    if sheet is not None and sheet.rows:
        sheet.write(a.sheet, a.overwrite)
    if failed:
        print(f"{len(failed)} of {len(files)} images failed (named above)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK
