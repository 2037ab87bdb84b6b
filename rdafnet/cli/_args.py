"""Argument types and exit codes shared by the commands."""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rdafnet.utils.naming import natural_key

EXIT_OK = 0  # everything asked for was done (existing outputs skipped where that is the policy)
EXIT_PARTIAL = 1  # the command ran, but some inputs failed (each named on stderr)
EXIT_REFUSED = 2  # nothing (more) was done: bad arguments, an unreadable or unsuitable file, or an
#                      output that would replace an input or an existing file without --overwrite
EXIT_INTERRUPTED = 130


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {text}")
    return value


def bounded(kind: type, lo: float, hi: float | None = None, what: str = "") -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` within [lo, hi], else a usage error that gives the range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not math.isfinite(value):  # inf and nan compare as neither small nor large: refused by name
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < lo or (hi is not None and value > hi):
            span = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise argparse.ArgumentTypeError(f"must be {span}{what}, got {text}")
        return value

    return parse


def device(text: str) -> str:
    """An argparse type for ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` that exists here."""
    from rdafnet.utils.device import resolve_device

    try:
        resolve_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def even_tile(text: str) -> int:
    """An argparse type for ``--tile``: an even integer >= 16 (what tiled inference needs)."""
    value = int(bounded(int, 16)(text))
    if value % 2:
        raise argparse.ArgumentTypeError(f"must be even (the networks halve the resolution), got {text}")
    return value


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and globs, in the order given."""
    import glob

    from rdafnet.io.image import IMAGE_SUFFIXES

    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
            for f in found:
                if f.is_symlink() and not f.exists():
                    print(f"skipped: {f} is a link to a missing file ({os.readlink(f)})", file=sys.stderr)
            files += [f for f in found if f.is_file()]
        elif any(ch in item for ch in "*?["):
            files += sorted((Path(f) for f in glob.glob(item, recursive=True) if Path(f).is_file()), key=natural_key)
        else:
            files.append(p)
    return files


def bundled_hint() -> str:
    """The line a run on the bundled default model ends with: which model that was, and the way to the
    paper's networks."""
    from rdafnet.weights import registry

    name = registry.default_name()
    return (
        f"note: restored with the small bundled model {name}, whose gain is modest; for the paper's networks: "
        "rdafnet download rdafnet-multi-stage-gopro, then --model rdafnet-multi-stage-gopro (docs/pretrained.md)"
    )


@contextmanager
def one_line_warnings(label: str) -> Iterator[list[str]]:
    """Within the block, each warning is one ``label: message`` line on stderr (no file and line); the
    yielded list collects them, for the summary."""
    shown: list[str] = []

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        shown.append(str(message))
        print(f"{label}: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield shown


def check_output_file(opt: str, path: str | None, *, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, an output file that cannot or must not be written: an existing folder, a
    path under a file, an existing file without ``--overwrite``, or one of the inputs (whatever the flags:
    ``--overwrite`` replaces earlier outputs, never what the command reads)."""
    if path is None:
        return
    target = Path(path)
    if any(target.resolve() == Path(i).resolve() for i in inputs):
        raise ValueError(f"{opt} {path} is one of the inputs; it would be replaced: name another file")
    if target.is_dir():
        raise ValueError(f"{opt} {path} is a folder; name a file")
    refuse_under_a_file(f"{opt} {path}", target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{opt} {path} exists; pass --overwrite to replace it")


def add_max_pixels(s: argparse.ArgumentParser) -> None:
    """``--max-pixels N``: allow image files declaring up to N pixels (the decompression-bomb guard)."""
    s.add_argument(
        "--max-pixels",
        type=bounded(int, 1),
        default=None,
        metavar="N",
        help="read image files of up to N pixels (default about 179 M, Pillow's guard against decompression "
        "bombs); larger real photos are restored in tiles",
    )


@contextmanager
def max_pixels_option(a: argparse.Namespace) -> Iterator[None]:
    """``--max-pixels`` in force for the command (and the earlier limit back afterwards)."""
    from rdafnet.io.guard import max_pixels, set_max_pixels

    before = max_pixels()
    if a.max_pixels is not None:
        set_max_pixels(int(a.max_pixels))
    try:
        yield
    finally:
        set_max_pixels(before)


def refuse_under_a_file(what: str, path: Path) -> None:
    """Refuse an output below a path that is a file: it can never be written (checked before any work)."""
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ValueError(f"{what} cannot be written: {above} is a file, not a folder")
