"""Recording a traced function's first call (see ``core/tracing.py``): the ops it calls,
the values it may not look at, and the checks that what was recorded can be replayed (no op
went unrecorded, no value was kept beyond the call)."""

from __future__ import annotations

import gc
import sys
import threading
import types
from contextvars import ContextVar
from typing import Any, Final

import numpy as np

from dezero_ext.core.config import TRAIN
from dezero_ext.core.function import (
    _LINKS,
    Function,
    FunctionBase,
    MultiOutputFunction,
    is_set,
)
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = ["TraceError"]


class TraceError(RuntimeError):
    """What ``fn`` did while being traced cannot be replayed (see ``dezero_ext.trace``)."""


# ---------------------------------------------------------------------- recording
class _Recorder:
    """The ops one tracing run of ``fn`` called, in order: ``(function, raw inputs, input
    Variables, output Variables)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[FunctionBase, tuple[Operand, ...], tuple[Variable, ...], Any]] = []
        self.modes: list[bool] = []
        """``is_training()`` at each call: a replay runs each op in the mode it was recorded
        in (an op's ``forward`` may read it, as dropout's does)."""


_RECORDER: Final[ContextVar[_Recorder | None]] = ContextVar("dezero_ext.trace", default=None)
_INSTALL_LOCK: Final = threading.Lock()
_installed = 0
_saved_calls: dict[type, Any] = {}


def _value_read(what: str) -> TraceError:
    recorder = _RECORDER.get()
    name = recorder.name if recorder is not None else "the traced function"
    return TraceError(
        f"trace({name}): {what} of a value computed from the arguments while tracing; a "
        "replay runs no Python code of the function, so a branch on the value or an array "
        "computed from it would be fixed at the first call's values (as under JAX's jit). "
        "Compute with the Variable's operators and dezero_ext's ops instead, pass values "
        "that steer Python code as separate calls, or do not trace this function"
    )


class _TracedVariable(Variable):
    """An argument or intermediate value while tracing: its values cannot be looked at."""

    __slots__ = ()

    @property
    def data(self) -> Array:
        raise _value_read("reading .data")

    @data.setter
    def data(self, value: Array) -> None:
        raise _value_read("assigning .data")

    def __bool__(self) -> bool:
        raise _value_read("bool()")

    def __len__(self) -> int:
        raise _value_read("len() (use .shape)")


class _TracedLabels(np.ndarray):
    """An integer argument (class labels) while tracing: ops may keep it, or ``np.asarray``
    of it, as it is (a replay gives them the next call's array); computing with it in
    Python would fix the result at the first call's values, so that raises."""

    def __array_ufunc__(self, *args: object, **kwargs: object) -> Any:
        raise _labels_used("computing with")

    def __array_function__(self, *args: object, **kwargs: object) -> Any:
        raise _labels_used("a NumPy function of")

    def __getitem__(self, key: object) -> Any:
        raise _labels_used("indexing")

    def __bool__(self) -> bool:
        raise _labels_used("bool() of")

    def __iter__(self) -> Any:
        raise _labels_used("iterating over")

    def astype(self, *args: object, **kwargs: object) -> Any:
        raise _labels_used("astype() of")

    def copy(self, *args: object, **kwargs: object) -> Any:  # refuses: a copy is a constant
        raise _labels_used("copying")

    def tolist(self) -> Any:
        raise _labels_used("tolist() of")


def _labels_used(what: str) -> TraceError:
    recorder = _RECORDER.get()
    name = recorder.name if recorder is not None else "the traced function"
    return TraceError(
        f"trace({name}): {what} an integer argument while tracing; a replay runs no Python "
        "code of the function, so the result would be fixed at the first call's labels. Pass "
        "the integer array to an op as it is (F.softmax_cross_entropy(y, t)), or compute "
        "what you need outside the traced function and pass it as an argument"
    )


LabelPoint = tuple[FunctionBase, str, int]
"""Where a replay puts an integer argument: ``setattr(function, name, ints[k])``."""


def _label_points(name: str, recorder: _Recorder, owners: list[Array]) -> tuple[LabelPoint, ...]:
    """Where the recorded ops keep the integer arguments (``owners``, the copies the
    recording passed): attributes holding a whole view of one. A part of one, or an
    argument no op keeps as it is (copied, converted), raises: it would be a constant."""
    if not owners:
        return ()
    index = {id(o): k for k, o in enumerate(owners)}
    points: list[LabelPoint] = []
    found: set[int] = set()
    for f, *_ in recorder.calls:
        for attr, value in getattr(f, "__dict__", {}).items():
            if not isinstance(value, np.ndarray):
                continue
            k = index.get(id(value), index.get(id(value.base)))
            if k is None:
                continue
            owner = owners[k]
            if (value.shape, value.dtype, value.strides) != (
                owner.shape,
                owner.dtype,
                owner.strides,
            ):
                raise TraceError(
                    f"trace({name}): {f._label()} keeps a part or a reshaped view of integer "
                    f"argument {k} (as {attr!r}); a replay can give an op only the whole "
                    "array. Pass the part you need as its own argument"
                )
            points.append((f, attr, k))
            found.add(k)
    for k in range(len(owners)):
        if k not in found:
            raise TraceError(
                f"trace({name}): integer argument {k} (counting integer arguments only) "
                "reached no op as it is (it was converted, copied or not used), so a replay "
                "could not give it the next call's values. Pass it to an op as it is "
                "(F.softmax_cross_entropy(y, t)), or do not trace this function"
            )
    return tuple(points)


def _recording(plain: Any) -> Any:
    """``plain`` (a ``__call__``) that also records the call when this context traces."""

    def call(self: FunctionBase, *inputs: Operand) -> Any:
        recorder = _RECORDER.get()
        if recorder is None:  # another thread, or no trace open in this context
            return plain(self, *inputs)
        if self.generation >= 0:  # an instance called twice: record a copy, as plain does
            self = self._fresh()
        xs = self._prepare_inputs(inputs)
        out = plain(self, *xs)
        for y in out if isinstance(out, tuple) else (out,):
            y.__class__ = _TracedVariable
        recorder.calls.append((self, inputs, xs, out))
        recorder.modes.append(TRAIN.get())
        return out

    call.__wrapped__ = plain  # type: ignore[attr-defined]  # for introspection
    return call


_wrappers: dict[type, Any] = {}


def _install() -> None:
    global _installed
    with _INSTALL_LOCK:
        if _installed == 0:
            for cls in (Function, MultiOutputFunction):
                _saved_calls[cls] = cls.__call__
                cls.__call__ = _wrappers[cls] = _recording(cls.__call__)  # type: ignore[method-assign]  # only while a trace records
        _installed += 1


def _intact() -> bool:
    """Whether the recording ``__call__``s are still in place (``detect_anomaly()`` opened in
    another thread swaps ``Function.__call__``: calls made since were not recorded)."""
    with _INSTALL_LOCK:
        return all(cls.__call__ is wrapper for cls, wrapper in _wrappers.items())


def _uninstall() -> None:
    global _installed
    with _INSTALL_LOCK:
        _installed -= 1
        if _installed == 0:
            for cls, plain in _saved_calls.items():
                if cls.__call__ is _wrappers[cls]:  # else someone swapped it since: theirs
                    cls.__call__ = plain  # type: ignore[method-assign]  # restored
            _saved_calls.clear()
            _wrappers.clear()


def _check_unrecorded(recorder: _Recorder) -> None:
    """Raise if an op input is the output of an op the recording did not see (a Function
    whose class overrides ``__call__``) computed from the arguments: a replay would read it
    as a constant, fixed at the first call."""
    for _, _, xs, _ in recorder.calls:
        for x in xs:
            if (
                x.creator is not None
                and x.__class__ is not _TracedVariable
                and _computed_in_trace(x)
            ):
                raise TraceError(
                    f"trace({recorder.name}): {x.creator._label()} computed a value from "
                    "the arguments without being recorded (a Function whose class "
                    "overrides __call__ cannot be traced); do not trace this function"
                )


def _computed_in_trace(v: Variable) -> bool:
    """Whether ``v``, an op output the recording did not see, depends on a traced value."""
    seen: set[int] = set()
    todo: list[FunctionBase] = [v.creator] if v.creator is not None else []
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        for node in f.input_nodes():
            if isinstance(node, _TracedVariable):
                return True
            if isinstance(node, FunctionBase):
                todo.append(node)
            elif node is not None and node.creator is not None:
                todo.append(node.creator)
    return False


def _check_leaks(recorder: _Recorder, args: list[Variable], out: Variable) -> None:
    """Raise if ``fn`` kept an argument or a value it computed somewhere that outlives the
    call (a layer's state, as an RNN's hidden state; a list): a replay runs no Python code,
    so that state would never be updated again (JAX calls this a leaked tracer).

    Reference counts find the suspects (a value referred to more often than the recording's
    own containers account for), and the garbage collector names what holds them; a holder
    it cannot see is given the benefit of the doubt."""
    values = list(args)
    containers: list[object] = [args, values]
    f = raws = xs = result = held = call = None  # bound for the del below, with no op too
    for call in recorder.calls:
        f, raws, xs, result = call
        containers += (call, raws, xs, f)
        held = f._links if is_set(f, _LINKS) else None  # the inputs, or their links
        if isinstance(held, tuple):  # (a bare link is a Variable: counted through f)
            containers.append(held)
        if isinstance(result, tuple):
            containers.append(result)
            values.extend(result)
        else:
            values.append(result)
    del f, raws, xs, result, held, call  # this frame's own references
    counted = dict.fromkeys(map(id, values), 0)
    for container in containers:
        referents = gc.get_referents(container)
        if isinstance(container, FunctionBase):  # its slots are referents; its dict's items:
            state = container.__dict__
            if any(r is state for r in referents):  # (a dict made on request)
                referents += gc.get_referents(state)
        for referent in referents:
            if id(referent) in counted:
                counted[id(referent)] += 1
    # held by: the containers counted, this loop's variable and getrefcount's argument;
    # ``out`` also by this function's parameter and the caller's local
    suspects: list[Variable] = []
    for v in values:  # a loop, not a comprehension: one would hold ``out`` in a cell
        if sys.getrefcount(v) > counted[id(v)] + 2 + (2 if v is out else 0):
            suspects.append(v)
    if not suspects:
        return
    known = {id(c) for c in containers} | {id(recorder.calls), id(suspects)}
    known |= {id(call[0].__dict__) for call in recorder.calls}
    found = gc.get_referrers(*suspects)
    for holder in found:
        if id(holder) in known or not _persistent(holder, {id(found)}):
            continue
        raise TraceError(
            f"trace({recorder.name}): the function kept a value it computed (in "
            f"{_describe(holder)}) "
            "beyond the call: state such as an RNN's hidden state, or a list of results. A "
            "replay runs no Python code, so that state would never change again. Pass the "
            "state as an argument and return what you need, reset it before every call, or "
            "do not trace this function"
        )


def _persistent(holder: object, scratch: set[int], depth: int = 0) -> bool:
    """Whether ``holder`` outlives the call: an object (a layer), or a container that one
    refers to (a function's closure cell, a module's list). A container only running frames
    hold (a local list, a cell of a live frame) is not. (Loops, not comprehensions, here
    and in ``_check_leaks``: a comprehension would hold the values it reads in cells.)"""
    if isinstance(holder, types.FrameType):
        return False
    if not isinstance(holder, (list, tuple, dict, set, types.CellType)):
        return True
    if depth == 3:
        return True  # deep enough: assume it is kept
    referrers = gc.get_referrers(holder)
    scratch = scratch | {id(referrers)}
    for r in referrers:  # noqa: SIM110 - a loop: any() of a generator would hold holder in a cell
        if id(r) not in scratch and _persistent(r, scratch, depth + 1):
            return True
    return False


def _describe(holder: object) -> str:
    if isinstance(holder, dict):
        for owner in gc.get_referrers(holder):
            if getattr(owner, "__dict__", None) is holder:
                return f"the attributes of a {type(owner).__name__}"
        return "a dict"
    if isinstance(holder, (list, tuple, set, types.CellType)):
        return f"a {type(holder).__name__}"
    return f"the attributes of a {type(holder).__name__}"
