"""Paired blurry/sharp datasets: GoPro layout, flat folders, explicit pair lists."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rdafnet.io.image import IMAGE_SUFFIXES, image_size, read_image, to_float
from rdafnet.utils.tensor import image_to_batch

#: The GoPro data set's test sequences (Nah et al. 2017): for evaluation only, never for training.
GOPRO_TEST_SEQUENCES = frozenset(
    {
        "GOPR0384_11_00",
        "GOPR0384_11_05",
        "GOPR0385_11_01",
        "GOPR0396_11_00",
        "GOPR0410_11_00",
        "GOPR0854_11_00",
        "GOPR0862_11_00",
        "GOPR0868_11_00",
        "GOPR0869_11_00",
        "GOPR0871_11_00",
        "GOPR0881_11_01",
    }
)
_GOPRO_SEQUENCE = re.compile(r"GOPR\d{4}_\d{2}_\d{2}")


def scene_of(path: str | os.PathLike) -> str:
    """The scene an image of a pair comes from: a GoPro sequence name (``GOPR0374_11_00``) found in
    the file name or a parent folder, otherwise the folder that holds ``blur/`` and ``sharp/``."""
    path = Path(path)
    for part in (path.name, *(q.name for q in path.parents)):
        m = _GOPRO_SEQUENCE.search(part)
        if m:
            return m.group(0)
    return path.parent.parent.name or str(path.parent)


def check_training_scenes(pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]]) -> None:
    """Raise ``ValueError`` if any pair comes from a GoPro test sequence (kept for evaluation)."""
    test = sorted({s for b, _ in pairs if (s := scene_of(b)) in GOPRO_TEST_SEQUENCES})
    if test:
        raise ValueError(
            f"the training data holds frames of GoPro test sequences {test}; these are for "
            "evaluation only: pass them with --val (Trainer(val_pairs=...)) instead"
        )


def images_in(folder: Path) -> dict[str, Path]:
    """The image files of ``folder`` by name, sorted."""
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def matched_pairs(blur_dir: Path, sharp_dir: Path) -> list[tuple[Path, Path]]:
    """The files of two folders paired by name; a file without a partner is an error that names it."""
    blur, sharp = images_in(blur_dir), images_in(sharp_dir) if sharp_dir.is_dir() else {}
    unmatched = sorted(set(blur) ^ set(sharp))
    if unmatched:
        raise ValueError(
            f"unmatched file names between {blur_dir} and {sharp_dir}: {unmatched[:5]} (they must share names)"
        )
    return [(blur[n], sharp[n]) for n in blur]


#: Folder names that mark a path as the sharp frame, and as the blurry one, in a list file.
SHARP_FOLDERS = {"gt", "sharp", "target", "groundtruth"}
BLUR_FOLDERS = {"blur", "blurry", "input", "blur_gamma"}


def _role(path: str) -> str | None:
    """ "sharp", "blur" or None, from the path's folder names."""
    parts = {p.lower() for p in Path(path).parts[:-1]}
    sharp, blur = bool(parts & SHARP_FOLDERS), bool(parts & BLUR_FOLDERS)
    return "sharp" if sharp and not blur else "blur" if blur and not sharp else None


def read_pair_list(path: Path) -> list[tuple[Path, Path]]:
    """A list file of two paths per line (relative to the file), in either order: RealBlur's lists give
    the ground truth first, this library's the blurry frame first. The order is read from the paths'
    folders (``gt/``, ``sharp/``, ``target/`` against ``blur/``, ``input/``); a list whose paths name no
    such folder is taken in this library's order, and one where only some lines tell is refused."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: expected two paths (blurry and sharp, in either order), got {line!r}")
        rows.append((n, parts[0], parts[1]))
    told = [(n, _role(a), _role(b)) for n, a, b in rows]
    if all(ra is None and rb is None for _, ra, rb in told):
        pairs = [(path.parent / a, path.parent / b) for _, a, b in rows]
    else:
        unclear = [n for n, ra, rb in told if {ra, rb} != {"sharp", "blur"}]
        if unclear:
            raise ValueError(
                f"{path}: cannot tell the blurry from the sharp path on line(s) {unclear[:5]} (other lines name "
                "gt/ or blur/ folders); write each pair as 'blurry_path sharp_path' with those folders, or fix them"
            )
        pairs = [
            (path.parent / a, path.parent / b) if ra == "blur" else (path.parent / b, path.parent / a)
            for (_, a, b), (_, ra, _) in zip(rows, told, strict=True)
        ]
    missing = [str(p) for pair in pairs for p in pair if not p.exists()]
    if missing:
        raise ValueError(f"{path} lists files that do not exist: {missing[:5]}")
    return pairs


def find_pairs(root: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Pairs under ``root``: ``root/{blur,sharp}/`` (flat) or ``root/<seq>/{blur,sharp}/`` (GoPro,
    also ``root/train/<seq>/...``), or a text file with two paths per line (:func:`read_pair_list`).

    Raises ``ValueError`` naming files without a partner.
    """
    root = Path(root)
    if root.is_file():
        return read_pair_list(root)
    if not root.is_dir():
        raise ValueError(f"{root} is neither a folder of pairs nor a pair-list file")
    dirs = (
        [root]
        if (root / "blur").is_dir()
        else sorted(
            d
            for d in [*root.iterdir(), *((root / "train").iterdir() if (root / "train").is_dir() else [])]
            if d.is_dir() and (d / "blur").is_dir()
        )
    )
    if not dirs:
        raise ValueError(
            f"no blur/ and sharp/ folders under {root}; expected {root}/blur + {root}/sharp "
            f"or {root}/<sequence>/blur + sharp (GoPro layout)"
        )
    return [pair for d in dirs for pair in matched_pairs(d / "blur", d / "sharp")]


def pair_names(pairs: Sequence[tuple[Path, Path]]) -> list[str]:
    """A unique name for each pair: the blurry file's name, or ``<sequence>/<name>`` where names
    repeat (the GoPro layout numbers every sequence from ``000001.png``).

    Raises ``ValueError`` naming a pair that is listed twice.
    """
    names = [Path(b).name for b, _ in pairs]
    if len(set(names)) < len(names):
        names = [f"{Path(b).parent.parent.name}/{Path(b).name}" for b, _ in pairs]
    seen: dict[str, Path] = {}
    for name, (b, _) in zip(names, pairs, strict=True):
        if name in seen:
            raise ValueError(
                f"{seen[name]} and {b} share the name {name!r}; list each pair once, "
                "and keep sequences in folders of their own"
            )
        seen[name] = Path(b)
    return names


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of an (H, W, C) array (k in 0..7)."""
    x = np.rot90(x, k % 4)
    return x[:, ::-1] if k >= 4 else x


def adjust_saturation(x: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the luma image: factor 0 is grey, 1 unchanged (float images)."""
    gray = (x @ np.array([0.299, 0.587, 0.114], x.dtype))[..., None]
    return np.clip(gray + factor * (x - gray), 0, 1)


def _check_crop(path: Path, h: int, w: int, crop: int) -> None:
    if h < crop or w < crop:
        raise ValueError(
            f"{path} ({h}x{w}) is smaller than crop={crop}: use a smaller crop (--crop), or leave the pair out"
        )


class PairedImages(Dataset):
    """Random (or centre) crops of blurry/sharp pairs as float (3, H, W) tensors in [0, 1].

    Augmentation (``augment=True``): the 8 dihedral transforms and the authors' random saturation
    change, the same for both images. Sample ``i`` of epoch ``e`` depends only on
    ``(seed, e, i)``: call ``set_epoch`` each epoch for fresh, reproducible crops.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
        *,
        crop: int | None = 256,
        augment: bool = True,
        saturation: float = 0.2,
        seed: int = 0,
        repeat: int = 1,
        cache: bool = True,
    ) -> None:
        if not pairs:
            raise ValueError("no image pairs given")
        self.pairs = [(Path(b), Path(s)) for b, s in pairs]
        self.crop, self.augment, self.saturation = crop, augment, saturation
        self.seed, self.repeat, self.epoch = seed, repeat, 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None
        if crop:  # from the files' headers, before any training step
            for b, _ in self.pairs:
                size = image_size(b)
                if size is not None:
                    _check_crop(b, *size, crop)

    @classmethod
    def from_path(cls, root: str | os.PathLike, **kwargs) -> PairedImages:
        return cls(find_pairs(root), **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def _load(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and j in self._cache:
            return self._cache[j]
        b_path, s_path = self.pairs[j]
        blur, sharp = read_image(b_path), read_image(s_path)
        if blur.shape != sharp.shape:
            raise ValueError(f"size mismatch: {b_path} is {blur.shape[:2]} but {s_path} is {sharp.shape[:2]}")
        blur, sharp = (np.repeat(a, 3, 2) if a.shape[2] == 1 else a[..., :3] for a in (blur, sharp))
        if self._cache is not None:
            self._cache[j] = (blur, sharp)
        return blur, sharp

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        blur, sharp = self._load(i % len(self.pairs))
        rng = np.random.default_rng((self.seed, self.epoch, i))
        h, w = blur.shape[:2]
        if self.crop:
            c = self.crop
            _check_crop(self.pairs[i % len(self.pairs)][0], h, w, c)
            y, x = (
                (rng.integers(0, h - c + 1), rng.integers(0, w - c + 1))
                if self.augment
                else ((h - c) // 2, (w - c) // 2)
            )
            blur, sharp = blur[y : y + c, x : x + c], sharp[y : y + c, x : x + c]
        blur, sharp = to_float(blur), to_float(sharp)
        if self.augment:
            k = int(rng.integers(8))
            blur, sharp = dihedral(blur, k), dihedral(sharp, k)
            if self.saturation > 0:
                f = rng.uniform(1 - self.saturation, 1 + self.saturation)
                blur, sharp = adjust_saturation(blur, f), adjust_saturation(sharp, f)
        return image_to_batch(blur)[0], image_to_batch(sharp)[0]
