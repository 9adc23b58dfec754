"""A time limit on an op's check, and the phase the check is in when it runs out.

``time_limit(seconds)`` arms a ``SIGALRM`` timer around a check; when it fires,
``CheckTimeout`` is raised where the check is, naming the phase it was in (drawing the
example, the op's forward, its backward, the numerical reference) and the example it was on.
``CheckTimeout`` is a ``BaseException``, as ``KeyboardInterrupt`` is, so that neither
Hypothesis (which would shrink it as a failure, rerunning the op that hangs) nor the checker's
own ``except Exception`` take it for the op raising.

A time-out that lands in a ``__del__`` or a gc callback, where Python swallows it, comes
again 10 ms later, printing nothing. The timer interrupts Python code, and the C calls that
return to Python on a signal (sleeps, lock waits); a single NumPy call that never returns
cannot be interrupted. It runs in the
main thread of a process, on platforms with ``signal.setitimer`` (not Windows); elsewhere
``time_limit`` does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dezero_ext.testing.example import Example

__all__ = [
    "NUMERICAL",
    "CheckTimeout",
    "Phase",
    "current_phase",
    "in_phase",
    "supported",
    "time_limit",
]


@dataclass(slots=True)
class Phase:
    """Where a check is: ``name`` (``"drawing the example"``, ``"forward"``, ``"backward"``,
    ``"numerical reference"``), the derivative ``order`` and the ``example`` (once drawn)."""

    name: str = "drawing the example"
    order: int | None = None
    example: Example | None = None


_current = Phase()
NUMERICAL = "numerical reference"
_AGAIN = 0.01  # seconds until a time-out Python swallowed (in a __del__) comes again


def current_phase() -> Phase:
    """The phase of the check running in this process."""
    return _current


def in_phase(name: str, order: int | None = None, example: Example | None = None) -> _InPhase:
    """Mark the check as being in phase ``name`` for the duration (cheap: a few assignments).
    Inside the numerical reference, the op's forward and backward are named as part of it."""
    return _InPhase(name, order, example)


class _InPhase:
    """``in_phase``'s block: a class, not a generator (several blocks open per evaluation of
    the op, tens of thousands in a check of the registry)."""

    __slots__ = ("example", "name", "order", "saved")

    def __init__(self, name: str, order: int | None, example: Example | None) -> None:
        self.name, self.order, self.example = name, order, example

    def __enter__(self) -> None:
        self.saved = (_current.name, _current.order, _current.example)
        name = self.name
        if self.saved[0].startswith(NUMERICAL) and name != NUMERICAL:
            name = f"{NUMERICAL} ({name})"
        _current.name = name
        if self.order is not None:
            _current.order = self.order
        if self.example is not None:
            _current.example = self.example

    def __exit__(self, *exc: object) -> None:
        _current.name, _current.order, _current.example = self.saved


class CheckTimeout(BaseException):
    """An op's check ran out of time: ``seconds`` the limit, ``phase`` where it was."""

    def __init__(self, seconds: float, phase: Phase) -> None:
        self.seconds = seconds
        self.phase = Phase(phase.name, phase.order, phase.example)
        super().__init__(self.describe())

    def __reduce__(self) -> tuple[type[CheckTimeout], tuple[float, Phase]]:
        # a worker process sends it back (check -j N); the default would call __init__ with
        # the message alone, and a result that cannot be rebuilt breaks the pool
        return (type(self), (self.seconds, self.phase))

    def describe(self, op: str | None = None) -> str:
        """``op 'x' timed out after 2 s in forward (order 1, float64)``."""
        where = self.phase.name
        details = []
        if self.phase.order is not None:
            details.append(f"order {self.phase.order}")
        if self.phase.example is not None:
            details.append(self.phase.example.dtype)
            op = op or self.phase.example.name
        if details:
            where += f" ({', '.join(details)})"
        name = f"op {op!r} " if op else ""
        return f"{name}timed out after {self.seconds:g} s in {where}"


def supported() -> bool:
    """Whether ``time_limit`` can limit a check here (the main thread, ``setitimer``)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


_fired: list[CheckTimeout] = []  # the time-out the innermost time_limit raised, if any


def fired() -> CheckTimeout | None:
    """The ``CheckTimeout`` the current ``time_limit`` raised, if its limit has run out: the
    alarm lands on any line, Hypothesis's own included, and code there may turn it into
    another exception (Hypothesis reported ``FlakyStrategyDefinition``)."""
    return _fired[0] if _fired else None


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``CheckTimeout`` in the block if it runs longer than ``seconds`` (``None`` or 0:
    no limit). A timer armed before (pytest-timeout's, say) is restored afterwards, less the
    time spent."""
    _fired.clear()  # (a limit that ran out before is not this one's)
    if not seconds or seconds <= 0 or not supported():
        yield
        return
    _current.name, _current.order, _current.example = "drawing the example", None, None

    def expire(signum: int, frame: FrameType | None) -> None:
        _fired[:] = [CheckTimeout(seconds, _current)]
        raise _fired[0]

    previous_hook = sys.unraisablehook

    def swallowed(unraisable: sys.UnraisableHookArgs) -> None:
        # the time-out landed in a __del__ or a gc callback, and Python swallowed it: no
        # "Exception ignored", and it comes again, soon, where it ends the check
        if isinstance(unraisable.exc_value, CheckTimeout):
            signal.setitimer(signal.ITIMER_REAL, _AGAIN)
        else:
            previous_hook(unraisable)

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    sys.unraisablehook = swallowed
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if sys.unraisablehook is swallowed:  # (a stopped worker may have put its own)
            sys.unraisablehook = previous_hook
        if previous_delay:
            left = max(previous_delay - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, previous_interval)
