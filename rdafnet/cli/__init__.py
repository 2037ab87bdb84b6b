"""The ``rdafnet`` command: one module per subcommand (``add_parser`` + ``run``), one error policy.

Exit codes (:mod:`rdafnet.cli._args`): 0 done; 1 ran, but some inputs failed (each named on
stderr); 2 refused or stopped with ``error: ...`` (bad arguments, an unreadable or unsuitable
file, an output that would replace an input or an existing file); 128 + the signal's number when a
stop signal ended the run (130 SIGINT, 143 SIGTERM, 129 SIGHUP), after one line that says how to resume.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdafnet._version import __version__
from rdafnet.cli import convert, deblur, download, evaluate, export_onnx, info, make_pairs, train
from rdafnet.cli._args import EXIT_INTERRUPTED, EXIT_REFUSED, refuse_under_a_file
from rdafnet.utils.signals import Interrupted, stop_signals

COMMANDS = (make_pairs, train, evaluate, deblur, convert, download, export_onnx, info)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rdafnet", description="RDAFNet motion deblurring")
    p.add_argument("--version", action="version", version=f"rdafnet {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def entry() -> None:
    """The console script (and ``python -m rdafnet.cli``): :func:`main`, with the stop signals handled from
    before the command starts until the process ends. A signal before the command's own handling begins
    ends the process with 128 + signal and one line; one after the command finished (its outputs complete)
    ends it with the command's own exit code, never a silent kill."""
    import os
    import signal

    from rdafnet.utils.signals import STOP_SIGNALS

    code: list[int] = []

    def late(signum: int, frame: object) -> None:
        if not code:
            print(
                f"error: stopped by {signal.Signals(signum).name} before the command began; nothing was written",
                file=sys.stderr,
            )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code[0] if code else 128 + signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, late)
    code.append(main())
    for sig in STOP_SIGNALS:  # the interpreter's shutdown puts Python-set handlers back to default, not ignored ones
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code[0])


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print as escapes, never fail
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    a = parser().parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `train` as the exact command
    try:
        out = getattr(a, "out", None)
        if out == "-":
            raise ValueError("-o -: rdafnet writes files, not a stream on stdout; name a folder or file")
        if out:
            refuse_under_a_file(out, Path(out))
        with stop_signals():  # every command: temporary files and folders are cleaned up on a stop signal
            return a.run(a)
    except (ValueError, OSError, ImportError) as exc:  # library errors say what to do: no traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Interrupted as exc:  # a stop signal: the command has made its state safe and says how to go on
        print(f"error: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
