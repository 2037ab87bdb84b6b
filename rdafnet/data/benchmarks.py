"""The deblurring benchmarks as distributed, read as their papers score them: GoPro (``GOPRO_Large``: the
``test/`` sequences, ``blur/`` frames), HIDE (``test/<subset>`` against ``GT/``, a row per subset),
RealBlur-J/-R list files (ground truth first), and the ``input/`` + ``target/`` folders of MPRNet-style
scripts; anything else is a folder or list of pairs (:func:`rdafnet.data.pairs.find_pairs`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rdafnet.data.pairs import find_pairs, images_in, matched_pairs, read_pair_list

Pair = tuple[Path, Path]
SPLITS = ("test", "train")


@dataclass
class Benchmark:
    """Pairs to score, by subset (HIDE reports each subset and their mean; the others have one)."""

    name: str  # "GoPro", "HIDE", "RealBlur", or "pairs" for a folder or list of this library's own
    subsets: dict[str, list[Pair]] = field(default_factory=dict)
    note: str = ""  # what was read, for the user: "GOPRO_Large test/ (11 sequences), blur/"

    @property
    def pairs(self) -> list[Pair]:
        return [p for ps in self.subsets.values() for p in ps]


def _gopro(root: Path, split: str | None, blur: str) -> Benchmark | None:
    """``GOPRO_Large/{train,test}/<sequence>/{blur,blur_gamma,sharp}``."""
    splits = {s: root / s for s in SPLITS if (root / s).is_dir()}
    if not any((d / "sharp").is_dir() for s in splits.values() for d in s.iterdir() if d.is_dir()):
        return None
    chosen = split or "test"
    if chosen not in splits:
        raise ValueError(
            f"{root} holds no {chosen}/ split (it has {', '.join(splits) or 'none'}); "
            + ("the paper scores test/: " if chosen == "test" else "")
            + "pass --split with one it has"
        )
    seqs = sorted(d for d in splits[chosen].iterdir() if (d / "sharp").is_dir())
    missing = [d.name for d in seqs if not (d / blur).is_dir()]
    if missing:
        raise ValueError(f"{splits[chosen]}: sequences without {blur}/: {missing[:5]}")
    pairs = [p for d in seqs for p in matched_pairs(d / blur, d / "sharp")]
    return Benchmark("GoPro", {chosen: pairs}, f"GoPro {chosen}/ ({len(seqs)} sequences, {blur}/ frames)")


def _hide(root: Path) -> Benchmark | None:
    """``HIDE_dataset/GT/`` with ``test/test-long-shot`` and ``test/test-close-ups``: one subset each."""
    if not ((root / "GT").is_dir() and (root / "test").is_dir()):
        return None
    subsets = {d.name: d for d in sorted((root / "test").iterdir()) if d.is_dir() and images_in(d)}
    if not subsets:
        raise ValueError(f"{root}/test holds no subset folders of images (HIDE: test-long-shot, test-close-ups)")
    gt = images_in(root / "GT")
    out: dict[str, list[Pair]] = {}
    for name, folder in subsets.items():
        blurry = images_in(folder)
        missing = sorted(set(blurry) - set(gt))
        if missing:
            raise ValueError(f"{folder}: no frame of the same name in {root / 'GT'} for {missing[:5]}")
        out[name] = [(blurry[n], gt[n]) for n in blurry]
    return Benchmark("HIDE", out, f"HIDE test/ ({', '.join(f'{k}: {len(v)}' for k, v in out.items())}) against GT/")


def _input_target(root: Path) -> Benchmark | None:
    """``input/`` + ``target/`` (MPRNet's scripts), at ``root`` or one level down (``root/GoPro/input``)."""
    dirs = [root] if (root / "input").is_dir() else [d for d in sorted(root.iterdir()) if (d / "input").is_dir()]
    dirs = [d for d in dirs if (d / "target").is_dir()]
    if not dirs:
        return None
    subsets = {("all" if d == root else d.name): matched_pairs(d / "input", d / "target") for d in dirs}
    return Benchmark("pairs", subsets, f"input/ against target/ in {', '.join(str(d) for d in dirs)}")


def find_benchmark(root: str | os.PathLike, *, split: str | None = None, blur: str = "blur") -> Benchmark:
    """The pairs of a benchmark folder or list file, as its paper scores them (module docstring).

    ``split`` picks GOPRO_Large's split (``test`` unless asked); a folder named ``train`` is refused
    unless ``split="train"`` says it is meant. ``blur`` picks GoPro's ``blur`` or ``blur_gamma`` frames.
    """
    root = Path(root).expanduser()
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if root.is_file():
        pairs = read_pair_list(root)
        return Benchmark("RealBlur" if "realblur" in root.name.lower() else "pairs", {"all": pairs}, str(root))
    if not root.is_dir():
        raise ValueError(f"{root} is neither a folder of pairs nor a pair-list file")
    if root.name == "train" and split != "train":
        raise ValueError(
            f"{root} is a training split: scores on it say nothing of unseen frames. Pass the folder above it "
            "(its test/ split is read) or --split train to score the training frames anyway"
        )
    for reader in (lambda: _gopro(root, split, blur), lambda: _hide(root), lambda: _input_target(root)):
        found = reader()
        if found is not None:
            return found
    pairs = find_pairs(root)
    return Benchmark("pairs", {"all": pairs}, str(root))
