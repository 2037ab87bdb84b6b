"""One writer per output: a run that writes a folder, a video or a training run's files holds a lock on
it, and a second run on the same output is refused at once with the first one's PID (instead of the two
skipping, replacing or corrupting each other's files). Lock files live in the cache
(``<cache>/locks/``), never among the outputs; the operating system releases a lock when its process
ends, however it ends. The locks come from ``filelock`` (``flock`` on Linux and macOS, ``msvcrt`` byte
locks on Windows). Not taken under ``torchrun``, whose ranks share an output by design."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.cache import cache_dir


class OutputInUseError(OSError):
    """Another process is writing the same output."""


@contextmanager
def exclusive(target: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold the lock of ``target`` (a folder or file path) for the ``with`` block; ``what`` describes this
    run in the message a second run gets. A cache where no lock can be made (read-only, or not a folder)
    gives one warning and the run goes on unlocked."""
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        yield
        return
    resolved = str(Path(target).resolve())
    folder = cache_dir() / "locks"
    name = hashlib.sha256(resolved.encode()).hexdigest()[:24]
    owner = folder / f"{name}.owner"  # who holds it: read by the run that is refused
    lock = FileLock(folder / f"{name}.lock", timeout=0, mode=0o600)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        try:
            holder = owner.read_text().strip()
        except OSError:
            holder = ""
        raise OutputInUseError(
            f"{target} is in use by another rdafnet run ({holder or 'another process'}); wait for it to "
            "finish, or write to another output"
        ) from None
    except OSError as exc:
        warnings.warn(
            f"no lock on {target}: the cache {folder.parent} cannot hold one ({exc.strerror or exc}); "
            "make sure no other run writes the same output, or set RDAFNET_CACHE to a writable folder",
            RuntimeWarning,
            stacklevel=3,
        )
        yield
        return
    try:
        stamp = f"PID {os.getpid()}, {what}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        try:
            atomic_write(owner, lambda tmp: Path(tmp).write_text(stamp))
        except OSError:  # the lock holds; only the description for a refused run is missing
            pass
        yield
    finally:
        lock.release()
