"""Traced mode: ``trace(fn)`` records ``fn``'s graph once and replays it as NumPy calls.

The first call of a traced function with given argument shapes and dtypes runs ``fn`` eagerly
and records every op it calls (the *tape*). Later calls with the same shapes and dtypes replay
the tape: a flat loop calling each op's ``forward`` on arrays, with no Python code of ``fn``,
no new Variable and no new Function per op. The result is one Variable whose creator is a
single node standing for the whole call, so ``y.backward()``, ``x.grad`` and the optimizers
work as after an eager call; that node's gradient replays the tape backward through the ops'
``backward_array`` rules (or their ``backward`` on Variables, recording nothing), with the
checks the engine makes on every gradient (count, shape, dtype).

What is guarded (a mismatch re-traces, never replays a stale tape):

- the arguments' kinds, shapes, dtypes and ``requires_grad``, ``is_grad_enabled()`` and
  ``is_training()`` (the key of a tape; a traced function keeps a few tapes);
- the Variables ``fn`` reads from outside (a model's parameters): their shapes, dtypes and
  ``requires_grad`` (their values are read anew on every call, so optimizer updates count);
- every op's output shape and dtype while replaying (a shape that depends on the values, as
  ``x[x > 0]``'s, re-traces).

Integer arguments (class labels) are inputs too: an op keeps them whole as an attribute
(``softmax_cross_entropy``'s labels) and a replay gives that attribute the next call's array;
computing with them in Python while tracing raises ``TraceError``.

What cannot be seen, as for JAX's ``jit``: Python code of ``fn`` runs only while tracing. So
``fn`` may not look at the values of what it computes — reading ``.data``, ``bool()`` or
``len()`` of a value that depends on the arguments raises ``TraceError`` while tracing, since
a branch taken on it, or an array computed from it, would be baked into every replay. Arrays
and numbers ``fn`` gets from elsewhere (a closure, a global) are constants fixed at the first
call; pass what changes as an argument. Side effects of ``fn`` (printing, appending to a
list, drawing random numbers in Python) happen once, while tracing; random draws inside an
op's ``forward`` (dropout) happen on every call.

A traced call differentiates to first order: ``backward(create_graph=True)`` through it
raises, naming the fix (call ``fn`` itself for higher derivatives). Under
``detect_anomaly()`` a traced function runs eagerly, so that every op is watched.

This module holds the public object and its keys; the recording and its checks are in
``core/recording.py``, the tape in ``core/tape.py``, its replay (generated code) in
``core/replay.py``.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from numpy import ndarray

from dezero_ext.core.config import DETECT_ANOMALY, ENABLE_BACKPROP, TRAIN
from dezero_ext.core.function import DUAL
from dezero_ext.core.recording import (
    _RECORDER,
    TraceError,
    _check_leaks,
    _check_unrecorded,
    _install,
    _intact,
    _label_points,
    _Recorder,
    _TracedLabels,
    _TracedVariable,
    _uninstall,
)
from dezero_ext.core.replay import _RetraceError
from dezero_ext.core.tape import _Call, _Tape
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = ["TraceError", "Traced", "invalidate_traces", "trace"]

_MAX_TAPES: Final = 8
"""Tapes a traced function keeps (one per key); the oldest is dropped beyond."""
_RETRACE_WARNING: Final = 16
"""Re-traces (a guard failing) after which a traced function warns that it gains nothing."""


Key = tuple[Any, ...]


class Traced:
    """A traced function (see ``trace``): call it as the function itself."""

    def __init__(self, fn: Callable[..., Variable]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__doc__ = fn.__doc__
        self._tapes: OrderedDict[Key, _Tape] = OrderedDict()
        self._lock = threading.Lock()
        self.traces = 0
        """How many times the function was traced (the first call of each key, and every
        guard that failed)."""

    def __repr__(self) -> str:
        return f"<traced {self.__name__}: {len(self._tapes)} tapes, traced {self.traces} times>"

    def __call__(self, *args: Operand, **kwargs: object) -> Variable:
        if kwargs:
            raise TypeError(
                f"trace({self.__name__}): pass the arguments by position (got keywords "
                f"{sorted(kwargs)}); fix keyword options with functools.partial before tracing"
            )
        if _RECORDER.get() is not None or DETECT_ANOMALY.get() or DUAL:
            # inside another trace (its tape records these ops), watched by detect_anomaly, or
            # in a forward-mode pass (each op's jvp rule carries the tangents): eagerly
            return self.fn(*args, **kwargs)
        operands = _operands(self.__name__, args)
        key = _key(operands)
        floats, ints = _split(operands)
        with self._lock:
            tape = self._tapes.get(key)
        if tape is not None and tape.live_unchanged():
            try:
                return _Call(self.__name__, tape, ints)(*floats, *tape.live)
            except _RetraceError:
                pass
        tape = self._record(key, operands)
        try:
            return _Call(self.__name__, tape, ints)(*floats, *tape.live)
        except _RetraceError:  # the values decide an output's shape: this call runs eagerly
            return self.fn(*args, **kwargs)

    def value_and_grads(
        self, *args: Operand
    ) -> tuple[Array, list[Variable], tuple[Array | None, ...]] | None:
        """Replay ``fn`` on ``args`` and differentiate its result (seeded with ones) with
        respect to the Variables ``fn`` reads from outside (a model's parameters), with no
        graph node: ``(value, variables, gradients)``, a gradient None where none flows or
        the Variable requires none. Nothing is assigned to any ``.grad``.

        The value and the gradients are new arrays, or arrays a gradient rule returned (as
        in eager mode): none is a buffer a later call reuses. Returns None where a traced
        call would run eagerly (inside another trace, under ``detect_anomaly()``, in a
        forward-mode pass, or when the values decide an output's shape): the caller then
        runs ``fn`` and its backward pass itself. A training step's building block (the nn
        toolkit's ``optimizers.TrainStep``)."""
        if _RECORDER.get() is not None or DETECT_ANOMALY.get() or DUAL:
            return None
        operands = _operands(self.__name__, args)
        key = _key(operands)
        floats, ints = _split(operands)
        with self._lock:
            tape = self._tapes.get(key)
        for _ in range(2):  # the tape found, else a new one; a shape guard failing twice: None
            if tape is None or not tape.live_unchanged():
                tape = self._record(key, operands)
            live = tape.live
            arrays = tuple([a._data if isinstance(a, Variable) else a for a in floats])
            arrays += tuple([v._data for v in live])
            with tape.lock:
                tape.owner = None  # its values become this call's: a _Call's backward re-runs
                try:
                    tape.relabel(ints)
                    y = tape.forward(arrays)
                except _RetraceError:
                    tape = None
                    continue
                # the engine's seed: ones (a scalar for a 0-d value; np.ones_like takes µs)
                grads = tape.backward(np.ones(y.shape, y.dtype) if y.shape else y.dtype.type(1))
            return y, live, grads[len(floats) :]
        return None

    def _record(self, key: Key, operands: tuple[Variable | Array, ...]) -> _Tape:
        traced_args: list[Variable] = []
        fn_args: list[object] = []
        owners: list[Array] = []  # an integer argument's own copy: what ops keep views of
        for a in operands:
            if isinstance(a, Variable):
                traced_args.append(_TracedVariable(a._data, requires_grad=a.requires_grad))
            elif a.dtype.kind == "f":
                traced_args.append(_TracedVariable(a, requires_grad=False))
            else:
                owners.append(np.array(a))
                fn_args.append(owners[-1].view(_TracedLabels))
                continue
            fn_args.append(traced_args[-1])
        recorder = _Recorder(self.__name__)
        token = _RECORDER.set(recorder)
        _install()
        try:
            out = self.fn(*fn_args)
            intact = _intact()
        finally:
            _uninstall()
            _RECORDER.reset(token)
        if not intact:
            raise TraceError(
                f"trace({self.__name__}): detect_anomaly() or a forward-mode pass "
                "(dezero_ext.func.jvp) was opened or closed while this function was traced, "
                "so some of its ops went unrecorded; call it again outside them"
            )
        if not isinstance(out, Variable):
            raise TypeError(
                f"trace({self.__name__}): the function returned {type(out).__name__}; a traced "
                "function returns one Variable (a loss, a prediction)"
            )
        for call in recorder.calls:
            call[0]._guard = None  # the tape's functions pin nothing: the call's node does
        _check_unrecorded(recorder)
        _check_leaks(recorder, traced_args, out)
        tape = _Tape(recorder, traced_args, out)
        tape.label_points = _label_points(self.__name__, recorder, owners)
        with self._lock:
            self.traces += 1
            self._tapes[key] = tape
            self._tapes.move_to_end(key)
            while len(self._tapes) > _MAX_TAPES:
                self._tapes.popitem(last=False)
            if self.traces == _RETRACE_WARNING:
                warnings.warn(
                    f"trace({self.__name__}) was traced {self.traces} times: its arguments' "
                    "shapes or dtypes keep changing, or its ops' output shapes depend on the "
                    "values; tracing it gains nothing",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return tape


def _operands(name: str, args: tuple[Any, ...]) -> tuple[Variable | Array, ...]:
    """The arguments as Variables, floating-point arrays and integer arrays (labels, which
    ops keep as attributes: see ``recording._label_points``): a Python number becomes a 0-d
    array of the first floating argument's dtype (weak, as in NumPy 2), so that a replay
    reads its value anew (an argument is never fixed at the first call)."""
    like: np.dtype[Any] | None = None
    for a in args:
        if isinstance(a, Variable):
            like = a._data.dtype
            break
        if isinstance(a, ndarray) and a.dtype.kind == "f":
            like = a.dtype
            break
    operands: list[Variable | Array] = []
    for i, a in enumerate(args):
        if isinstance(a, Variable):
            operands.append(a)
            continue
        if isinstance(a, (float, int)) and not isinstance(a, bool):
            operands.append(np.asarray(a, dtype=like or np.float64))
            continue
        if isinstance(a, (ndarray, np.generic)) and a.dtype.kind in "fiu":
            operands.append(np.asarray(a))
            continue
        what = f"a {a.dtype} array" if isinstance(a, (ndarray, np.generic)) else type(a).__name__
        raise TypeError(
            f"trace({name}): argument {i} is {what}; a traced function takes Variables, "
            "floating-point arrays and numbers, which it sees as Variables, and integer "
            "arrays (class labels), which it passes to ops as they are. Other options: fix "
            "them with functools.partial before tracing"
        )
    return tuple(operands)


def _split(
    operands: tuple[Variable | Array, ...],
) -> tuple[tuple[Variable | Array, ...], tuple[Array, ...]]:
    """The floating arguments (the call's inputs) and the integer ones (labels)."""
    floats = tuple([a for a in operands if isinstance(a, Variable) or a.dtype.kind == "f"])
    if len(floats) == len(operands):
        return operands, ()
    ints = tuple([a for a in operands if not isinstance(a, Variable) and a.dtype.kind != "f"])
    return floats, ints


_EPOCH: Final = [0]
"""Bumped by ``invalidate_traces``: part of every key, so a bump retires every tape."""


def invalidate_traces() -> None:
    """Make every traced function trace again at its next call.

    Call it after changing Python state that a traced function's code reads and its
    arguments do not show: a layer's mode (``Layer.train()``/``eval()`` call it), a flag or
    a constant a closure reads. Cheap: the old tapes are dropped as new ones come."""
    _EPOCH[0] += 1


def _key(operands: tuple[Variable | Array, ...]) -> Key:
    parts: list[Any] = [ENABLE_BACKPROP.get(), TRAIN.get(), _EPOCH[0]]
    for a in operands:
        if isinstance(a, Variable):
            parts.append((a._data.shape, a._data.dtype, a.requires_grad))
        else:
            parts.append((a.shape, a.dtype, None))
    return tuple(parts)


def trace(fn: Callable[..., Variable]) -> Traced:
    """``fn`` traced: recorded at its first call, replayed as NumPy calls afterwards.

    ``fn`` takes Variables, arrays and numbers and returns one Variable; it may use ops,
    layers and models (their parameters are read anew on every call). The result is called
    as ``fn`` is, and differentiated as ``fn``'s result is (``y.backward()``, to first
    order). See the module's documentation for what is guarded and what cannot be seen::

        step = trace(lambda x, t: F.softmax_cross_entropy(model(x), t))
        loss = step(x_batch, t_batch)   # the first call traces, later ones replay
        model.cleargrads(); loss.backward(); optimizer.update()
    """
    if not callable(fn):
        raise TypeError(f"trace: expected a function, got {type(fn).__name__}")
    return Traced(fn)
