"""One writer per output: a run that writes a folder, a video or a training run's files holds a lock on
it, and a second run on the same output is refused at once with the first one's PID (instead of the two
skipping, replacing or corrupting each other's files). Lock files live in the cache
(``<cache>/locks/``), never among the outputs; the operating system releases a lock when its process
ends, however it ends. Not taken under ``torchrun``, whose ranks share an output by design."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rdafnet.utils.cache import cache_dir


class OutputInUseError(OSError):
    """Another process is writing the same output."""


@contextmanager
def exclusive(target: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold the lock of ``target`` (a folder or file path) for the ``with`` block; ``what`` describes this
    run in the message a second run gets."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: no lock
        yield
        return
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        yield
        return
    resolved = str(Path(target).resolve())
    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(resolved.encode()).hexdigest()[:24]}.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise OutputInUseError(
                f"{target} is in use by another rdafnet run ({holder}); wait for it to finish, "
                "or write to another output"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"PID {os.getpid()}, {what}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
