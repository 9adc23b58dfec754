"""How ``dezero-ext check`` takes Ctrl-C, SIGTERM and SIGHUP (``Interrupts``): the first
Ctrl-C lets the checks in progress finish, a second one, SIGTERM or SIGHUP stop the run at
once (``KeyboardInterrupt``, ``Stopped``).

Python runs a signal handler in the main thread between any two bytecodes. Where the main
thread runs the check itself (``-j 1``), the handler raises where it lands: nothing else can
stop the op's code. Where it waits for worker processes, the handler only records the stop
(``deferred``), and the waiting loop raises it (``check``): a handler that raised inside
``concurrent.futures.wait()``, after it took one future's lock and before the next, left that
lock held; the pool's manager thread then waited for it forever, and the interpreter's exit
for that thread (issue 18: a hang under load).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Final

__all__ = ["Interrupts", "Stopped"]

_PROMPT: Final = 0.05  # seconds before a stop a __del__ swallowed is signalled again


class Stopped(KeyboardInterrupt):
    """The run was stopped at once by ``signum`` (SIGTERM, SIGHUP); a ``KeyboardInterrupt``,
    so that what lets a second Ctrl-C through lets it through too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_signals() -> tuple[int, ...]:
    return tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@dataclass(slots=True)
class Interrupts:
    """Signals as ``dezero-ext check`` takes them: the first Ctrl-C sets ``stopping`` (finish
    the checks in progress, start none); a second one raises ``KeyboardInterrupt``, SIGTERM or
    SIGHUP ``Stopped``, and ``signum`` says which stopped the run. Once one is raised, later
    signals only wait for it (they would cut the clean-up short). Inside ``deferred()`` the
    handler raises nothing: the stop waits for ``check()`` (a line holding no lock)."""

    stopping: bool = False
    notice: Callable[[], None] | None = None
    signum: int | None = None
    _raised: bool = False
    _pending: bool = False
    _deferred: bool = False
    _again: threading.Timer | None = None

    def install(self) -> None:
        """Handle SIGINT, SIGTERM and SIGHUP with this policy (main thread only)."""
        for signum in (signal.SIGINT, *_stop_signals()):
            signal.signal(signum, self._handle)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """``install`` for the duration (in the main thread; elsewhere, nothing), with a
        ``sys.unraisablehook`` that prints nothing for a stop a ``__del__`` or gc callback
        swallowed, and signals it again so that it lands where it stops the run."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        signums = (signal.SIGINT, *_stop_signals())
        previous = [signal.getsignal(signum) for signum in signums]
        previous_hook = sys.unraisablehook

        def hook(unraisable: sys.UnraisableHookArgs) -> None:
            if not (self._raised and isinstance(unraisable.exc_value, KeyboardInterrupt)):
                previous_hook(unraisable)
                return
            self._raised = False
            signum = self.signum or signal.SIGINT
            self._again = threading.Timer(_PROMPT, os.kill, (os.getpid(), signum))
            self._again.start()

        self.install()
        sys.unraisablehook = hook
        try:
            yield self
        finally:
            if self._again is not None:  # the run ended first: the handlers are going
                self._again.cancel()
            sys.unraisablehook = previous_hook
            for signum, handler in zip(signums, previous, strict=True):
                signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and not self.stopping:
            self.stopping = True
            if self.notice is not None:
                self.notice()
            return
        self.stopping = True
        if self._raised or self._pending:
            return
        if self.signum is None:
            self.signum = signum
        self._pending = True
        if not self._deferred:
            self.check()

    def check(self) -> None:
        """Raise the stop a signal asked for, if any: ``KeyboardInterrupt`` or ``Stopped``."""
        if not self._pending:
            return
        self._pending, self._raised = False, True
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(self.signum or signal.SIGTERM)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """For the duration, a stop is only recorded, and raised by ``check()``."""
        previous, self._deferred = self._deferred, True
        try:
            yield
        finally:
            self._deferred = previous

    @contextlib.contextmanager
    def prompt(self) -> Iterator[None]:
        """For the duration (inside ``deferred()``), a stop is raised where the signal lands
        again: code that may block on a reader, holding no lock another thread needs."""
        self.check()
        previous, self._deferred = self._deferred, False
        try:
            yield
        finally:
            self._deferred = previous
