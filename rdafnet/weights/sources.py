"""The authors' files as they arrive on a user's machine: a checkpoint under any name (``GoPro (1).pth``),
a folder holding it among other files, or the zip or tar a browser gives for a Drive folder
(``drive-download-<date>-001.zip``). Each candidate is read safely and matched to the network it holds.

Archives are never extracted by their own member names: a checkpoint member is copied, under a name of
this module's choosing, into the temporary folder it is given, so no entry can land outside it; entries
that try (``../``, absolute paths) and members that inflate far beyond their compressed size (zip bombs)
refuse the whole archive.
"""

from __future__ import annotations

import tarfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from rdafnet.utils.checkpoint import read_checkpoint, strip_prefixes
from rdafnet.weights.convert import convert_official, is_official

#: Suffixes of checkpoint files looked for in folders and archives (a single file may have any name).
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")
#: The largest member read from an archive (the multi-stage checkpoint is 116 MB), and the largest ratio of
#: its size to its compressed size (a float32 checkpoint compresses to about 0.93 of its size).
MAX_MEMBER_BYTES = 2 << 30
MAX_RATIO = 50


@dataclass
class Candidate:
    """A file that may be an authors' checkpoint: where it can be read, and what to call it for the user."""

    path: Path
    origin: str

    def variant(self) -> str | None:
        """The network it holds (``single-stage``, ``multi-stage``, an ablation ...), or None where it is not an
        authors' checkpoint."""
        try:
            with warnings.catch_warnings():  # torch's remark on another file's pickle protocol is noise here
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                sd = strip_prefixes(read_checkpoint(self.path))
            return convert_official(sd)[0] if is_official(sd) else None
        except (ValueError, KeyError, OSError):
            return None


def _unsafe(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


def _copy(src: IO[bytes], dest: Path, limit: int, what: str) -> None:
    """Copy at most ``limit`` bytes (the size the archive declared); more is a lying header: refused."""
    done = 0
    with open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            done += len(chunk)
            if done > limit:
                raise ValueError(f"{what} holds more data than its header declares: refused (a zip bomb?)")
            out.write(chunk)


def _check_member(archive: Path, name: str, size: int, packed: int | None) -> None:
    if _unsafe(name):
        raise ValueError(
            f"{archive} holds an entry that points outside its folder ({name!r}): refused, nothing was read. "
            "Download the file again from the authors' page"
        )
    if size > MAX_MEMBER_BYTES or (packed is not None and packed > 0 and size / packed > MAX_RATIO):
        raise ValueError(
            f"{archive}: {name} would inflate to {size / 2**20:,.0f} MiB from {(packed or 0) / 2**20:,.1f} MiB "
            "(a zip bomb, or not a checkpoint): refused, nothing was extracted"
        )


def _is_torch_zip(zf: zipfile.ZipFile) -> bool:
    """torch.save writes a zip too: ``<name>/data.pkl`` beside ``<name>/data/...``."""
    return any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist())


def _wanted(name: str) -> bool:
    return name.lower().endswith(CHECKPOINT_SUFFIXES) and not PurePosixPath(name).name.startswith("._")


def _from_zip(archive: Path, work: Path) -> Iterator[Candidate]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_member(archive, info.filename, info.file_size, info.compress_size)
        for i, info in enumerate(i for i in infos if not i.is_dir() and _wanted(i.filename)):
            dest = work / f"member-{i}.pth"
            with zf.open(info) as src:
                _copy(src, dest, info.file_size, f"{archive}: {info.filename}")
            yield Candidate(dest, f"{archive} ({info.filename})")


def _from_tar(archive: Path, work: Path) -> Iterator[Candidate]:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            _check_member(archive, m.name, m.size, None)
        for i, m in enumerate(m for m in members if m.isreg() and _wanted(m.name)):
            dest, src = work / f"member-{i}.pth", tf.extractfile(m)
            if src is not None:
                with src:
                    _copy(src, dest, m.size, f"{archive}: {m.name}")
                yield Candidate(dest, f"{archive} ({m.name})")


def _archive_kind(path: Path) -> str | None:
    try:  # tar first: a tar holding a .pth (itself a zip) also passes zipfile's test
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return None if _is_torch_zip(zf) else "zip"
    return None


def candidates(source: str | Path, work: Path) -> list[Candidate]:
    """The checkpoints that ``source`` (a file of any name, a folder, a zip or tar) holds; archive members are
    copied into ``work`` (a temporary folder the caller removes)."""
    source = Path(source).expanduser()
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        found = [Candidate(p, str(p)) for p in files if _wanted(p.name)]
        for k, p in enumerate(p for p in files if p.suffix.lower() in (".zip", ".tar", ".tgz", ".gz")):
            sub = work / f"archive-{k}"
            sub.mkdir()
            found += candidates(p, sub)
        return found
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found; pass the file, folder or zip you downloaded")
    kind = _archive_kind(source)
    if kind == "zip":
        return list(_from_zip(source, work))
    if kind == "tar":
        return list(_from_tar(source, work))
    return [Candidate(source, str(source.resolve()))]


def describe(found: list[Candidate], variants: dict[str, str | None]) -> str:
    """What each candidate is, for a message: ``a.pth: single-stage; notes.pth: not an authors' checkpoint``."""
    return "; ".join(f"{c.origin}: {variants[c.origin] or 'not an authors checkpoint'}" for c in found) or "nothing"


def pick(found: list[Candidate], variants: dict[str, str | None], variant: str, source: Path) -> Candidate:
    """The one candidate that holds ``variant``; none or several different ones: a message naming them."""
    from rdafnet.utils.checkpoint import sha256

    fits = [c for c in found if variants[c.origin] == variant]
    distinct = {sha256(c.path): c for c in fits}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    if not fits:
        raise ValueError(f"{source} holds no authors' {variant} checkpoint; it holds: {describe(found, variants)}")
    raise ValueError(
        f"{source} holds {len(distinct)} different {variant} checkpoints: "
        f"{', '.join(c.origin for c in distinct.values())}; pass the one to use with --from"
    )
