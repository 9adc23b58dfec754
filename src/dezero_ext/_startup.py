"""A Ctrl-C while the ``dezero-ext`` command starts: one line and exit 130, not a traceback
from the imports.

The command's first code is this package's import (the ``dezero-ext`` script and
``python -m dezero_ext`` import it before ``main`` runs, and it takes a while: NumPy), and
its first line imports this module, which calls ``quiet_start``: in the command alone, never
in a program that imports dezero_ext, Ctrl-C then ends the process with one line. ``main``
puts Python's handler back (a ``KeyboardInterrupt`` it reports) where it can catch it, and
this one again when it returns, for the interpreter's exit.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

__all__ = ["as_command", "quiet_start", "quiet_exit", "restore"]

_COMMAND = "dezero-ext"
_MODULE = "dezero_ext"
_TAKES_VALUE = ("-X", "-W", "-Q")  # interpreter options whose value is the next argument


def as_command() -> bool:
    """Whether this process is the ``dezero-ext`` command (its script, or ``python -m``)."""
    if sys.argv and Path(sys.argv[0]).stem == _COMMAND:
        return True
    arguments = iter(sys.orig_argv[1:])
    for argument in arguments:
        if argument == "-m":
            return next(arguments, None) == _MODULE
        if argument.startswith("-m"):
            return argument[2:] == _MODULE
        if argument in _TAKES_VALUE:
            next(arguments, None)
        elif argument == "-c" or not argument.startswith("-"):
            return False
    return False


def _interrupted(signum: int, frame: FrameType | None) -> None:
    # nothing to clean up yet (or any more): no output written, no process started
    os.write(2, b"\ndezero-ext: interrupted\n")  # not print: no buffer to re-enter
    os._exit(130)


def quiet_start() -> None:
    """In the command, from now on a Ctrl-C ends the process with one line, exit 130."""
    if as_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


def restore() -> None:
    """Python's Ctrl-C again (``KeyboardInterrupt``), if ``quiet_start`` replaced it."""
    if signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def quiet_exit() -> None:
    """In the command, Ctrl-C ends the process with one line again: for the interpreter's
    exit (its atexit callbacks would print a traceback), once the output is written."""
    quiet_start()


quiet_start()  # on import: the package's first line imports this module
