"""Stop signals (SIGTERM from a scheduler, a container or ``timeout``; SIGHUP from a closed terminal;
SIGINT from Ctrl-C) turned into one exception, :class:`Interrupted`, so that a long run stops where it
is safe: ``finally`` blocks and atomic writes clean up, nothing is half-written, and the run can say how
to resume."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals a long run stops cleanly on (SIGHUP exists on POSIX only).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, n))


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. A ``KeyboardInterrupt``, so ``except Exception`` does not swallow it;
    ``signum`` is the signal (the process exits with ``128 + signum``)."""

    def __init__(self, signum: int, message: str = "") -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(message or f"stopped by {self.name}; nothing was half-written: run the same command again")


@contextmanager
def stop_signals(*, defer: bool = False) -> Iterator[Callable[[], int | None]]:
    """Within the block, a stop signal raises :class:`Interrupted` at once, or with ``defer=True`` is
    only recorded: the yielded function returns the signal that arrived (``None`` if none), for a loop that
    stops at its next safe point; a second signal then raises at once. Outside the main thread (where
    signals cannot be caught) the block runs unchanged. The previous handlers come back afterwards."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if defer and not arrived:
            arrived.append(signum)
            return
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield lambda: arrived[0] if arrived else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def ignore_stop_signals(*_: object) -> None:
    """For helper processes (a DataLoader's workers): leave the stop signals to the main process, which
    stops at a safe point and then ends them. A signal sent to the whole process group (SLURM, Ctrl-C)
    would otherwise kill them mid-step, and the loader would raise in the middle of the checkpoint."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
