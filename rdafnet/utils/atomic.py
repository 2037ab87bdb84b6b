"""Atomic file writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


class DiskFullError(OSError):
    """A write ran out of disk space; the message names the file and the space."""

    def __str__(self) -> str:
        return str(self.strerror)


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], object], *, overwrite: bool = True, need: int | None = None
) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` in one rename.

    A crash leaves either the old file or the new one, never a partial file. With
    ``overwrite=False`` an existing ``path`` raises ``FileExistsError``. A write that fails because the
    disk is full (``need``: the bytes it needs, where known) raises one ``OSError`` (ENOSPC) that names
    ``path``, the free space and the space needed, whatever the writer raised.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a short name of fixed length: any name the file system takes for ``path`` fits
    fd, tmp = tempfile.mkstemp(prefix=".rdafnet-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        # mkstemp makes 0600 files, and some writers (safetensors) replace the file they are given:
        # set the usual permissions on whatever was written
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, (OSError, RuntimeError)) and _disk_full(exc, path.parent, need):
            raise DiskFullError(errno.ENOSPC, _no_space(path, need)) from exc
        raise
    return path


def _disk_full(exc: BaseException, folder: Path, need: int | None) -> bool:
    """Whether a failed write ran out of space: the error says so, or (for writers such as torch.save
    that report only "write failed") the folder now has less free space than the write needs."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return False
    return free < max(need or 0, 1 << 20)


def _no_space(path: Path, need: int | None) -> str:
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free there"
    except OSError:
        free = "free space unknown"
    wanted = f", about {need / 2**20:.1f} MiB needed" if need else ""
    kept = f"; the previous {path.name} is unchanged" if path.exists() else ""
    return f"cannot write {path}: the disk is full ({free}{wanted}){kept}; free some space and run again"
