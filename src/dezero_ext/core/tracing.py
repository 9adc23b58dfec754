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
"""

from __future__ import annotations

import gc
import sys
import threading
import types
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

import numpy as np
from numpy import asarray, ndarray

from dezero_ext.core import engine as _engine
from dezero_ext.core.config import DETECT_ANOMALY, ENABLE_BACKPROP, TRAIN
from dezero_ext.core.function import DUAL, Function, FunctionBase, MultiOutputFunction
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = ["TraceError", "Traced", "invalidate_traces", "trace"]

_FLOAT_SCALARS: Final = frozenset({np.float64, np.float32, np.float16})
_MAX_TAPES: Final = 8
"""Tapes a traced function keeps (one per key); the oldest is dropped beyond."""
_RETRACE_WARNING: Final = 16
"""Re-traces (a guard failing) after which a traced function warns that it gains nothing."""


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


# ---------------------------------------------------------------------- the tape
class _RetraceError(Exception):
    """A guard failed while replaying: record again."""


Meta = tuple[tuple[int, ...], np.dtype[Any]]


def _meta(a: Array) -> Meta:
    return a.shape, a.dtype


def _grad_meta(a: Array) -> type | Meta:
    """What the engine checks a gradient of ``a`` against (a 0-d array's scalar type)."""
    return (a.shape, a.dtype) if a.shape else a.dtype.type


class _Step:
    """One recorded op: where its inputs come from and its outputs go (slots of the tape's
    value list), and what its outputs' shapes and dtypes were when recorded."""

    __slots__ = (
        "f",
        "forward",
        "grad_metas",
        "ins",
        "mode",
        "multi",
        "needs",
        "out_metas",
        "out_vars",
        "outs",
    )

    def __init__(
        self,
        f: FunctionBase,
        ins: tuple[int, ...],
        outs: tuple[int, ...],
        out_vars: tuple[Variable, ...],
        grad_metas: tuple[type | Meta, ...],
    ) -> None:
        self.f = f
        self.forward: Callable[..., Any] = getattr(f, "forward")  # noqa: B009 - FunctionBase declares none
        self.ins = ins
        self.outs = outs
        self.out_vars = out_vars
        self.out_metas = tuple([_meta(y._data) for y in out_vars])
        self.grad_metas = grad_metas
        self.multi = f._multi
        self.needs: tuple[bool, ...] = ()
        self.mode: bool | None = None
        """The training mode to run ``forward`` in, when not the mode of the whole call."""


class _Tape:
    """A recorded call of ``fn``, replayable forward and backward."""

    def __init__(self, recorder: _Recorder, args: list[Variable], out: Variable) -> None:
        slot_of: dict[int, int] = {id(v): i for i, v in enumerate(args)}
        self.nargs = len(args)
        self.arg_vars = args
        self.live: list[Variable] = []  # Variables fn read from outside: inputs of each call
        self.constants: dict[int, Array] = {}
        slot_vars: list[Variable] = list(args)
        steps: list[_Step] = []
        requires = [v.requires_grad for v in args]

        def slot(x: Variable, raw: object) -> int:
            s = slot_of.get(id(x))
            if s is None:
                s = slot_of[id(x)] = len(slot_vars)
                slot_vars.append(x)
                if isinstance(raw, Variable):  # read anew every call (a parameter)
                    self.live.append(x)
                    requires.append(x.requires_grad)
                else:  # a number or array: fixed now
                    self.constants[s] = x._data
                    requires.append(False)
            return s

        start_mode = TRAIN.get()
        for (f, raws, xs, out), mode in zip(recorder.calls, recorder.modes, strict=True):
            ins = tuple([slot(x, raw) for x, raw in zip(xs, raws, strict=True)])
            ys = out if isinstance(out, tuple) else (out,)
            outs = tuple(range(len(slot_vars), len(slot_vars) + len(ys)))
            for y in ys:
                slot_of[id(y)] = len(slot_vars)
                slot_vars.append(y)
                requires.append(y.creator is f)
            step = _Step(f, ins, outs, ys, tuple([_grad_meta(x._data) for x in xs]))
            step.needs = tuple([requires[s] for s in ins])
            step.mode = None if mode is start_mode else mode
            steps.append(step)
        if id(out) not in slot_of:
            raise TypeError(
                f"trace({recorder.name}): the function returned a Variable it did not get"
            )
        self.out = slot_of[id(out)]
        self.slot_vars = slot_vars
        self.requires = requires
        self.steps = steps
        self.graph = [s for s in steps if any(requires[o] for o in s.outs)]
        # live inputs of the call's node: after the arguments, in slot order
        self.live_slots = [slot_of[id(v)] for v in self.live]
        self.live_metas = [(_meta(v._data), v.requires_grad) for v in self.live]
        self.owner: weakref.ref[_Call] | None = None
        self.lock = threading.Lock()
        for v in slot_vars:  # the tape's own Variables hand out data again
            if v.__class__ is _TracedVariable:
                v.__class__ = Variable  # type: ignore[assignment]  # back to a plain Variable
        self._plans()

    # ------------------------------------------------------------------ replay
    def live_unchanged(self) -> bool:
        return all(
            _meta(v._data) == meta and v.requires_grad is grad
            for v, (meta, grad) in zip(self.live, self.live_metas, strict=True)
        )

    def _plans(self) -> None:
        """The replay loops' lists: one flat tuple per step, read with no attribute lookup."""
        self.forward_plan: list[tuple[Any, ...]] = []
        for step in self.steps:
            ins = step.ins
            shape, dtype = step.out_metas[0]
            keep = step.f if step.f.saves_output and not step.multi else None
            self.forward_plan.append(
                (
                    step.forward,
                    ins[0] if len(ins) == 1 else -1,
                    ins,
                    step.outs[0],
                    step.out_vars[0],
                    shape,
                    dtype,
                    keep,
                    step if step.multi or step.mode is not None else None,
                    step.f,
                )
            )
        self.backward_plan: list[tuple[Any, ...]] = []
        for step in reversed(self.graph):
            f = step.f
            rule = f.backward_array if not step.multi else None
            out = step.outs[0] if not step.multi else -1
            self.backward_plan.append(
                (rule, f, out, step.ins, len(step.ins), step.needs, step.grad_metas, step)
            )

    def forward(self, arrays: tuple[Array, ...]) -> Array:
        """Run the tape on ``arrays`` (the arguments, then the live Variables' data)."""
        values: list[Any] = [None] * len(self.slot_vars)
        nargs = self.nargs
        slot_vars = self.slot_vars
        for i in range(nargs):
            values[i] = slot_vars[i]._data = arrays[i]
        for s, a in zip(self.live_slots, arrays[nargs:], strict=True):
            values[s] = a
        for s, a in self.constants.items():
            values[s] = a
        for fwd, i0, ins, o, var, shape, dtype, keep, multi, f in self.forward_plan:
            if multi is not None:  # several outputs, or a mode of its own: the slow path
                _forward_step(multi, values)
                continue
            y = fwd(values[i0]) if i0 >= 0 else fwd(*[values[i] for i in ins])
            if y.__class__ is not ndarray or y.dtype is not dtype:
                # a NumPy scalar (ufuncs give them for 0-d inputs), or another dtype
                y = asarray(y) if y.__class__ in _FLOAT_SCALARS else f._output_array(y)
                if y.dtype != dtype:
                    raise _RetraceError
            if y.shape != shape:
                raise _RetraceError  # the values decide the shape (see the module's doc)
            values[o] = var._data = y
            if keep is not None:
                keep._y = y if shape else y[()]
        return values[self.out]  # type: ignore[no-any-return]  # an ndarray: set above

    def backward(self, gy: Any) -> list[Any]:
        """The gradients of the arguments and the live Variables (None where none flows)."""
        grads: list[Any] = [None] * len(self.slot_vars)
        grads[self.out] = gy
        fit = _engine._fit
        for rule, f, o, ins, n, needs, metas, step in self.backward_plan:
            if o < 0:
                gys = _output_grads(step, grads)
                if gys is None:
                    continue
                gxs = _engine._array_step(f, gys)
            else:
                gy = grads[o]
                if gy is None:
                    continue
                grads[o] = None
                if rule is not None:
                    gxs = rule(gy)
                    if gxs.__class__ is not tuple:
                        gxs = (gxs,)
                else:
                    gxs = _engine._array_step(f, gy)
            if len(gxs) != n:
                raise _engine._count_error(f, gxs, ins)
            for k in range(n):
                g = gxs[k]
                if g is None or not needs[k]:
                    continue
                meta = metas[k]
                if meta.__class__ is tuple:
                    fits = g.__class__ is ndarray and g.shape == meta[0] and g.dtype is meta[1]
                else:
                    fits = g.__class__ is meta
                if not fits:  # the engine's checks, casts and errors
                    g = fit(f, g, meta, _POSITIONS, _POSITIONS[k], False)
                s = ins[k]
                old = grads[s]
                grads[s] = g if old is None else old + g
        wanted = list(range(self.nargs)) + self.live_slots
        return [grads[s] if self.requires[s] else None for s in wanted]


def _forward_step(step: _Step, values: list[Any]) -> None:
    f = step.f
    if step.mode is not None:
        token = TRAIN.set(step.mode)
        try:
            result = step.forward(*[values[i] for i in step.ins])
        finally:
            TRAIN.reset(token)
    else:
        result = step.forward(*[values[i] for i in step.ins])
    ys = result if step.multi else (result,)
    if not isinstance(ys, (tuple, list)) or len(ys) != len(step.outs):
        raise _RetraceError
    outs = zip(step.outs, step.out_vars, ys, step.out_metas, strict=True)  # lengths checked
    for i, (s, v, y, meta) in enumerate(outs):
        a = f._output_array(y, f"as output {i}" if step.multi else "as its output")
        if a.shape != meta[0] or a.dtype != meta[1]:
            raise _RetraceError
        values[s] = v._data = a
    if f.saves_output and not step.multi:
        f._y = a if a.shape else a[()]  # type: ignore[attr-defined]  # Function's saved output


def _output_grads(step: _Step, grads: list[Any]) -> list[Any] | None:
    """A multi-output step's outputs' gradients (zeros for an output that got none), taken
    out of ``grads``; None when none got any."""
    if all(grads[s] is None for s in step.outs):
        return None
    gys = [
        grads[s] if grads[s] is not None else np.zeros(*meta)
        for s, meta in zip(step.outs, step.out_metas, strict=True)
    ]
    for s in step.outs:
        grads[s] = None
    return gys


_POSITIONS: Final = tuple(range(256))
"""Input positions, for the engine's error messages (it names an input by its position)."""


# ---------------------------------------------------------------------- the call's node
class _Call(Function):
    """One replayed call of a traced function, as one node of the eager graph: its inputs
    are the arguments and the Variables the function reads from outside."""

    def __init__(self, traced: Traced, tape: _Tape) -> None:
        self.traced = traced
        self.tape = tape

    def _label(self) -> str:  # type: ignore[override]  # per instance: names the traced function
        return f"trace({self.traced.__name__})"

    def forward(self, *arrays: Array) -> Array:
        tape = self.tape
        with tape.lock:
            y = tape.forward(arrays)
            tape.owner = weakref.ref(self)
        return y

    def backward_array(self, gy: Any) -> tuple[Any, ...]:
        tape = self.tape
        with tape.lock:
            owner = tape.owner
            if owner is None or owner() is not self:
                # the tape holds a later call's values: run this call's forward again
                tape.forward(tuple([asarray(self.input_array(i)) for i in range(len(self.inputs))]))
                tape.owner = weakref.ref(self)
            return tuple(tape.backward(gy))

    def backward(self, gy: Variable) -> tuple[Variable | None, ...]:
        raise TraceError(
            f"{self._label()}: backward(create_graph=True) through a traced call; a traced "
            "function is differentiated to first order. For higher derivatives call the "
            "function itself (not traced)"
        )


# ---------------------------------------------------------------------- the public object
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
        with self._lock:
            tape = self._tapes.get(key)
        if tape is not None and tape.live_unchanged():
            try:
                return _Call(self, tape)(*operands, *tape.live)
            except _RetraceError:
                pass
        tape = self._record(key, operands)
        try:
            return _Call(self, tape)(*operands, *tape.live)
        except _RetraceError:  # the values decide an output's shape: this call runs eagerly
            return self.fn(*args, **kwargs)

    def _record(self, key: Key, operands: tuple[Variable | Array, ...]) -> _Tape:
        traced_args: list[Variable] = []
        for a in operands:
            if isinstance(a, Variable):
                traced_args.append(_TracedVariable(a._data, requires_grad=a.requires_grad))
            else:
                traced_args.append(_TracedVariable(a, requires_grad=False))
        recorder = _Recorder(self.__name__)
        token = _RECORDER.set(recorder)
        _install()
        try:
            out = self.fn(*traced_args)
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


def _check_leaks(recorder: _Recorder, args: list[Variable], out: Variable) -> None:
    """Raise if ``fn`` kept an argument or a value it computed somewhere that outlives the
    call (a layer's state, as an RNN's hidden state; a list): a replay runs no Python code,
    so that state would never be updated again (JAX calls this a leaked tracer).

    Reference counts find the suspects (a value referred to more often than the recording's
    own containers account for), and the garbage collector names what holds them; a holder
    it cannot see is given the benefit of the doubt."""
    values = list(args)
    containers: list[object] = [args, values]
    for call in recorder.calls:
        f, raws, xs, result = call
        state = f.__dict__
        containers += (call, raws, xs, f)
        for held in (state.get("inputs"), state.get("_links")):
            if isinstance(held, tuple):  # (a bare link is a Variable: counted through f)
                containers.append(held)
        if isinstance(result, tuple):
            containers.append(result)
            values.extend(result)
        else:
            values.append(result)
    del f, raws, xs, result, state, call  # this frame's own references
    counted = dict.fromkeys(map(id, values), 0)
    for container in containers:
        referents = gc.get_referents(container)
        if isinstance(container, FunctionBase) and container.__dict__ in referents:
            referents += gc.get_referents(container.__dict__)  # a dict made on request
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


def _operands(name: str, args: tuple[Any, ...]) -> tuple[Variable | Array, ...]:
    """The arguments as Variables and floating-point arrays: a Python number becomes a 0-d
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
        if isinstance(a, (ndarray, np.generic)) and a.dtype.kind == "f":
            operands.append(np.asarray(a))
            continue
        what = f"a {a.dtype} array" if isinstance(a, (ndarray, np.generic)) else type(a).__name__
        raise TypeError(
            f"trace({name}): argument {i} is {what}; a traced function takes Variables, "
            "floating-point arrays and numbers, which it sees as Variables. Integer labels "
            "and other options: compute the loss outside the traced function (trace the "
            "model: loss = F.softmax_cross_entropy(trace(model)(x), t)), or fix the option "
            "with functools.partial before tracing"
        )
    return tuple(operands)


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
