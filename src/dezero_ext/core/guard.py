"""Keeping the memory a recorded graph reads from changing under it.

A recorded function's ``backward`` reads its inputs' data when it runs, so an array edited
between the forward pass and the backward pass would give a wrong gradient with no error.
NumPy has no hook on writes, so the engine makes such memory read-only instead. One rule:

**The array that owns the memory is pinned**, however the array an op reads was reached: a
leaf's own array, a view of it (``reshape``, ``.T``, slicing ... keep no inputs but return a
view of their input's memory), or a leaf made from a view of an array the caller still holds
(``Variable(a.reshape(3, 1))``: ``a`` owns the memory). The owner is found through ``.base``.

- A leaf's memory (a Variable with no creator: parameters, inputs, constants) is **pinned**
  when a recorded function reads the leaf in backward (``saves_inputs``) or returns a view of
  its memory: the owner, and the leaf's array itself when it is a view, are read-only while
  any function holding them lives. A ``Pin`` counts those functions; the ``LeafGuard`` of
  each function holds its pins.
- A backward pass **releases** the guards of the functions it ran through: the pinned arrays
  stay read-only (a later backward through those functions must see the same values), but
  ``Variable.data`` then hands out a private writable copy (copy-on-write), so updating a
  parameter after ``backward()`` (``p.data -= lr * p.grad.data``) works.
- When the last function holding a pinned memory is freed, it is writable again.
- Before keeping the gradients of a pass, the engine checks that each guarded leaf still
  holds the array it had when recorded, or one of equal values; otherwise it raises naming
  the op and the input (the leaf's data was reassigned, or copied on write and edited).

Op outputs are frozen the first time their ``data`` is handed out (``Variable.data``), and
their data cannot be reassigned: only the engine makes them, so that covers every write to
memory an op allocated. Not covered: a view of a leaf's memory made (with NumPy) before a
graph pinned it keeps its own writable flag; and arrays of other libraries (array-api-strict,
Dask, CuPy: ``core/backend.py``), which the Array API gives no read-only flag and no
``.base``: they are not pinned, so an in-place write into one between the forward and the
backward pass goes unseen (Dask arrays are immutable in practice).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dezero_ext.core.function import FunctionBase
    from dezero_ext.core.variable import Array, Variable

__all__ = ["LeafGuard", "Pin", "check_all", "check_leaves", "guard_leaves", "owner", "release"]


def owner(array: Array) -> Array:
    """The array that owns ``array``'s memory (``array`` itself when it is no view): the
    last ndarray on its chain of ``.base`` (NumPy collapses most chains to one step)."""
    base = array.base
    while isinstance(base, np.ndarray):
        array = base
        base = array.base
    return array


class Pin:
    """One memory made read-only for the recorded functions that read it: its owner, and
    the views of it that leaves hold."""

    __slots__ = ("array", "holds", "released", "views", "writeable")

    def __init__(self, array: Array, holds: int = 0, released: int = 0) -> None:
        self.array = array
        """The owner of the memory."""
        self.holds = holds
        """Functions holding the memory that no backward pass has run through yet."""
        self.released = released
        """Functions holding it that a backward pass has run through (they may run again)."""
        self.views: list[Array] = []
        """Views of the memory held by leaves, made read-only here (restored with it)."""
        self.writeable = bool(array.flags.writeable)
        if self.writeable:
            array.setflags(write=False)

    def add_view(self, view: Array) -> None:
        """A leaf's array that is a view of this memory: read-only too while pinned."""
        if view.flags.writeable:
            view.setflags(write=False)
            self.views.append(view)

    def restore(self) -> None:
        """No function holds the memory any more: make it writable again if it was."""
        try:
            if self.writeable:
                self.array.setflags(write=True)
            for view in self.views:
                view.setflags(write=True)
        except ValueError:  # a buffer NumPy will not make writable again: it stays read-
            self.released = 1  # only, and Variable.data hands out copies (copy-on-write)

    @property
    def copy_on_write(self) -> bool:
        """Whether ``Variable.data`` should hand out a copy: only released functions hold it."""
        return self.holds == 0 and self.released > 0


OUTPUT: Final = Pin(np.empty(0), holds=1)
"""The pin of a frozen op output: never released (a later backward may read it)."""
UNCHAINED: Final = Pin(np.empty(0), released=1)
"""The pin of a frozen op output that ``unchain`` made a leaf: copied on write."""

_PINS: Final[dict[int, Pin]] = {}  # id(owner array) -> its pin; the pin keeps it alive
# Reentrant: a guard freed by reference counting while the lock is held releases its pins.
_LOCK: Final = threading.RLock()

Guarded: TypeAlias = "tuple[int, Variable, Array, Pin]"
"""``(input position, the leaf, the array it held when recorded, the pin of its memory)``."""


class LeafGuard:
    """The leaf inputs of one recorded function, with the arrays it read (as pins)."""

    __slots__ = ("__weakref__", "leaves", "released")

    def __init__(self, leaves: tuple[Guarded, ...]) -> None:
        self.leaves = leaves
        """One ``Guarded`` entry for each leaf input whose memory the function reads."""
        self.released = False

    # The module's globals are bound as defaults: a graph still alive at interpreter exit is
    # freed after the module's globals are cleared, and must not fail then.
    def __del__(self, _lock: threading.RLock = _LOCK, _pins: dict[int, Pin] = _PINS) -> None:
        with _lock:
            for _, _, _, pin in self.leaves:
                if self.released:
                    pin.released -= 1
                else:
                    pin.holds -= 1
                if pin.holds == 0 and pin.released == 0:
                    del _pins[id(pin.array)]
                    pin.restore()


def guard_leaves(xs: tuple[Variable, ...], view: Array | None = None) -> LeafGuard | None:
    """Pin the memory of the leaves among ``xs`` (inputs of a function being recorded); with
    ``view`` (the output of a function that keeps no inputs), only the leaves whose memory
    it shows. None when there is none to pin (a backward pass's own seed is frozen for
    good)."""
    # often none (a gradient graph's inputs: op outputs and frozen seeds): then no lock
    todo = [
        (i, x)
        for i, x in enumerate(xs)
        if x.creator is None and x._pin is not OUTPUT and x._data.__class__ is np.ndarray
    ]
    if todo and view is not None:
        shown = owner(view)
        todo = [(i, x) for i, x in todo if owner(x._data) is shown]
    if not todo:
        return None
    leaves: list[Guarded] = []
    with _LOCK:
        for i, x in todo:
            array = x._data
            memory = owner(array)
            pin = _PINS.get(id(memory))
            if pin is None:
                pin = _PINS[id(memory)] = Pin(memory)
            if array is not memory:
                pin.add_view(array)
            pin.holds += 1
            x._pin = pin
            leaves.append((i, x, array, pin))
    return LeafGuard(tuple(leaves))


def release(guards: list[LeafGuard]) -> None:
    """After a backward pass: the functions of ``guards`` ran; their leaves may be updated
    (copy-on-write) while the arrays they read stay as they were."""
    with _LOCK:
        for guard in guards:
            if guard.released:
                continue
            guard.released = True
            for _, _, _, pin in guard.leaves:
                pin.holds -= 1
                pin.released += 1


def check_leaves(label: str, guard: LeafGuard) -> None:
    """Raise if a leaf input of the function ``label`` changed since it was recorded."""
    for i, x, then, _ in guard.leaves:
        now = x._data
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
                check_leaves(f._label(), guard)
            except RuntimeError as error:
                if cause is None:
                    raise
                raise error from cause
            guards.append(guard)
    return guards
