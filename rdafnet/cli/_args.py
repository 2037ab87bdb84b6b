"""Argument types and exit codes shared by the commands."""
from __future__ import annotations

import argparse

EXIT_OK = 0          # everything asked for was done (existing outputs skipped where that is the policy)
EXIT_PARTIAL = 1     # the command ran, but some inputs failed (each named on stderr)
EXIT_REFUSED = 2     # nothing (more) was done: bad arguments, an unreadable or unsuitable file, or an
#                      output that would replace an input or an existing file without --overwrite
EXIT_INTERRUPTED = 130


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {text}")
    return value
