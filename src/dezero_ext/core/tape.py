"""A traced function's tape (see ``core/tracing.py``): the recorded ops as flat steps,
replayed forward and backward on arrays, and the one graph node a replayed call is."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from numpy import asarray, ndarray

from dezero_ext.core import engine as _engine
from dezero_ext.core.config import TRAIN
from dezero_ext.core.function import _FLOAT_SCALARS, Function, FunctionBase
from dezero_ext.core.recording import (
    TraceError,
    _Recorder,
    _TracedVariable,
)
from dezero_ext.core.variable import Array, Variable

__all__: list[str] = []


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

    def __init__(self, name: str, tape: _Tape) -> None:
        self.name = name
        self.tape = tape

    def _label(self) -> str:  # type: ignore[override]  # per instance: names the traced function
        return f"trace({self.name})"

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
