"""Keeping the data a recorded graph needs from changing under it.

A recorded function's ``backward`` reads its inputs' data when it runs, so an array edited
between the forward pass and the backward pass would give a wrong gradient with no error.
NumPy has no hook on writes, so the engine makes such arrays read-only instead:

- A leaf's array (a Variable with no creator: parameters, inputs, constants) is **pinned**
  when a recorded function takes it as input: read-only while any function holding it lives.
  A ``Pin`` counts those functions; the ``LeafGuard`` of each function holds its pins.
- A backward pass **releases** the guards of the functions it ran through: the pinned arrays
  stay read-only (a later backward through those functions must see the same values), but
  ``Variable.data`` then hands out a private writable copy (copy-on-write), so updating a
  parameter after ``backward()`` (``p.data -= lr * p.grad.data``) works.
- When the last function holding a pinned array is freed, the array is writable again.
- Before running a function's backward, the engine checks that each leaf still holds the
  array it read, or one of equal values; otherwise it raises naming the op and the input.

Op outputs are frozen the first time their ``data`` is handed out (``Variable.data``), and
their data cannot be reassigned: only the engine makes them, so that covers every write.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dezero_ext.core.function import FunctionBase
    from dezero_ext.core.variable import Array, Variable

__all__ = ["LeafGuard", "Pin", "check_all", "check_leaves", "guard_leaves", "release"]


class Pin:
    """One array made read-only for the recorded functions that hold it."""

    __slots__ = ("array", "holds", "released", "writeable")

    def __init__(self, array: Array, holds: int = 0, released: int = 0) -> None:
        self.array = array
        self.holds = holds
        """Functions holding the array that no backward pass has run through yet."""
        self.released = released
        """Functions holding it that a backward pass has run through (they may run again)."""
        self.writeable = bool(array.flags.writeable)
        if self.writeable:
            array.setflags(write=False)

    def restore(self) -> None:
        """No function holds the array any more: make it writable again if it was."""
        if self.writeable:
            try:
                self.array.setflags(write=True)
            except ValueError:  # a view whose base another pin holds read-only: it stays
                self.released = 1  # so, and Variable.data hands out copies (copy-on-write)

    @property
    def copy_on_write(self) -> bool:
        """Whether ``Variable.data`` should hand out a copy: only released functions hold it."""
        return self.holds == 0 and self.released > 0


OUTPUT: Final = Pin(np.empty(0), holds=1)
"""The pin of a frozen op output: never released (a later backward may read it)."""
UNCHAINED: Final = Pin(np.empty(0), released=1)
"""The pin of a frozen op output that ``unchain`` made a leaf: copied on write."""

_PINS: Final[dict[int, Pin]] = {}  # id(array) -> its pin; the pin keeps the array alive
# Reentrant: a guard freed by reference counting while the lock is held releases its pins.
_LOCK: Final = threading.RLock()


class LeafGuard:
    """The leaf inputs of one recorded function, with the arrays it read (as pins)."""

    __slots__ = ("__weakref__", "leaves", "released")

    def __init__(self, leaves: tuple[tuple[int, Pin], ...]) -> None:
        self.leaves = leaves
        """``(input position, pin of the array that input held)`` for each leaf input."""
        self.released = False

    # The module's globals are bound as defaults: a graph still alive at interpreter exit is
    # freed after the module's globals are cleared, and must not fail then.
    def __del__(self, _lock: threading.RLock = _LOCK, _pins: dict[int, Pin] = _PINS) -> None:
        with _lock:
            for _, pin in self.leaves:
                if self.released:
                    pin.released -= 1
                else:
                    pin.holds -= 1
                if pin.holds == 0 and pin.released == 0:
                    del _pins[id(pin.array)]
                    pin.restore()


def guard_leaves(xs: tuple[Variable, ...]) -> LeafGuard | None:
    """Pin the arrays of the leaves among ``xs`` (inputs of a function being recorded);
    None when there is none to pin (a backward pass's own seed is frozen for good)."""
    # often none (a gradient graph's inputs: op outputs and frozen seeds): then no lock
    todo = [(i, x) for i, x in enumerate(xs) if x.creator is None and x._pin is not OUTPUT]
    if not todo:
        return None
    leaves: list[tuple[int, Pin]] = []
    with _LOCK:
        for i, x in todo:
            array = x._data
            pin = _PINS.get(id(array))
            if pin is None:
                pin = _PINS[id(array)] = Pin(array)
            pin.holds += 1
            x._pin = pin
            leaves.append((i, pin))
    return LeafGuard(tuple(leaves))


def release(guards: list[LeafGuard]) -> None:
    """After a backward pass: the functions of ``guards`` ran; their leaves may be updated
    (copy-on-write) while the arrays they read stay as they were."""
    with _LOCK:
        for guard in guards:
            if guard.released:
                continue
            guard.released = True
            for _, pin in guard.leaves:
                pin.holds -= 1
                pin.released += 1


def check_leaves(label: str, inputs: tuple[Variable, ...], guard: LeafGuard) -> None:
    """Raise if a leaf input of the function ``label`` changed since it was recorded."""
    for i, pin in guard.leaves:
        now = inputs[i]._data
        then = pin.array
        if now is then or (
            now.shape == then.shape
            and now.dtype == then.dtype
            and np.array_equal(now, then, equal_nan=True)
        ):
            continue
        raise RuntimeError(
            f"{label}: input {i} (shape {then.shape}, {then.dtype}) changed after the graph "
            "was recorded (its data was reassigned or written in place); backward would "
            "differentiate at the new values and return a wrong gradient. Run the forward "
            "pass again on the new data: the usual order is forward, backward, then update "
            "the data (as p.data -= lr * p.grad.data)"
        )


def check_all(
    functions: Iterable[FunctionBase], cause: BaseException | None = None
) -> list[LeafGuard]:
    """Check the leaf inputs of ``functions`` (see ``check_leaves``); return their guards.

    With ``cause`` (an error raised during the pass), a changed leaf is raised from it."""
    guards: list[LeafGuard] = []
    for f in functions:
        guard = f._guard
        if guard is not None:
            try:
                check_leaves(f._label(), f.inputs, guard)
            except RuntimeError as error:
                if cause is None:
                    raise
                raise error from cause
            guards.append(guard)
    return guards
