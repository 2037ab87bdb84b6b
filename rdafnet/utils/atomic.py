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
        if isinstance(exc, Exception) and _size_limited(exc):
            raise DiskFullError(errno.EFBIG, _too_large(path, need)) from exc
        if isinstance(exc, Exception) and _disk_full(exc, path.parent, need):
            raise DiskFullError(errno.ENOSPC, _no_space(path, need)) from exc
        raise
    return path


#: How writers that do not raise OSError say that the disk is full or the file too large: the OS error
#: numbers inside safetensors' messages (Rust's "os error N"), the C library's texts, and torch.save's zip
#: writer, which reports a failed write only as a position it did not reach.
_FULL_TEXTS = ("os error 28", "os error 122", "no space left", "disk quota exceeded")
_LIMIT_TEXTS = ("os error 27", "file too large")
_WRITE_FAILED_TEXTS = ("unexpected pos", "file write failed", "pytorchstreamwriter failed")


def _said(exc: BaseException, texts: tuple[str, ...]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if any(t in str(seen).lower() for t in texts):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _file_size_limit() -> int | None:
    """This process's limit on the size of a file it writes (``ulimit -f``), where there is one."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _size_limited(exc: BaseException) -> bool:
    """Whether a failed write hit the file-size limit (EFBIG), rather than a full disk."""
    if (isinstance(exc, OSError) and exc.errno == errno.EFBIG) or _said(exc, _LIMIT_TEXTS):
        return True
    return _file_size_limit() is not None and _said(exc, _WRITE_FAILED_TEXTS)


def _too_large(path: Path, need: int | None) -> str:
    limit = _file_size_limit()
    wanted = f" (about {need / 2**20:.1f} MiB needed)" if need else ""
    kept = f"; the previous {path.name} is unchanged" if path.exists() else ""
    return (
        f"cannot write {path}: the file-size limit of this process"
        + (f" ({limit / 2**20:.1f} MiB, ulimit -f)" if limit is not None else "")
        + f" is smaller than the file{wanted}{kept}; raise the limit (ulimit -f unlimited) and run again"
    )


def _disk_full(exc: BaseException, folder: Path, need: int | None) -> bool:
    """Whether a failed write ran out of space: the error says so, or (for writers such as torch.save
    that report only "write failed") the folder now has less free space than the write needs."""
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or _said(exc, _FULL_TEXTS):
        return True
    if not (isinstance(exc, (OSError, RuntimeError)) or _said(exc, _WRITE_FAILED_TEXTS)):
        return False
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
