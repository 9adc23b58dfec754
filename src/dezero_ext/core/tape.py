"""A traced function's tape (see ``core/tracing.py``): the recorded ops as flat steps,
replayed forward and backward on arrays, and the one graph node a replayed call is."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from dezero_ext.core.config import TRAIN
from dezero_ext.core.function import Function
from dezero_ext.core.recording import (
    LabelPoint,
    TraceError,
    _Recorder,
    _TracedVariable,
)
from dezero_ext.core.replay import (
    ScalarCode,
    _grad_meta,
    _meta,
    _Step,
    backward_function,
    forward_function,
    kept_slots,
    scalar_code,
    scalar_slots,
)
from dezero_ext.core.variable import Array, Variable

__all__: list[str] = []


# ---------------------------------------------------------------------- the tape
class _Tape:
    """A recorded call of ``fn``, replayable forward and backward (as generated code, see
    ``core/replay.py``)."""

    def __init__(self, recorder: _Recorder, args: list[Variable], out: Variable) -> None:
        slot_of: dict[int, int] = {id(v): i for i, v in enumerate(args)}
        self.nargs = len(args)
        self.live: list[Variable] = []  # Variables fn read from outside: inputs of each call
        constants: dict[int, Array] = {}
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
                    constants[s] = x._data
                    requires.append(False)
            return s

        start_mode = TRAIN.get()
        for (f, raws, xs, result), mode in zip(recorder.calls, recorder.modes, strict=True):
            ins = tuple([slot(x, raw) for x, raw in zip(xs, raws, strict=True)])
            ys = result if isinstance(result, tuple) else (result,)
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
        for v in slot_vars:  # the tape's own Variables hand out data again
            if v.__class__ is _TracedVariable:
                v.__class__ = Variable  # type: ignore[assignment]  # back to a plain Variable
        live_slots = [slot_of[id(v)] for v in self.live]
        self.live_metas = [(_meta(v._data), v.requires_grad) for v in self.live]
        self.owner: weakref.ref[_Call] | None = None
        self.label_points: tuple[LabelPoint, ...] = ()
        self.lock = threading.Lock()
        self.forward, self.backward = _compile(
            steps, slot_vars, self.nargs, live_slots, constants, slot_of[id(out)], requires
        )

    def relabel(self, ints: tuple[Array, ...]) -> None:
        """Give the ops that keep an integer argument (labels) this call's array."""
        for f, attr, k in self.label_points:
            setattr(f, attr, ints[k])

    def live_unchanged(self) -> bool:
        return all(
            _meta(v._data) == meta and v.requires_grad is grad
            for v, (meta, grad) in zip(self.live, self.live_metas, strict=True)
        )


def _compile(
    steps: list[_Step],
    slot_vars: list[Variable],
    nargs: int,
    live_slots: list[int],
    constants: dict[int, Array],
    out: int,
    requires: list[bool],
) -> tuple[Callable[[tuple[Array, ...]], Array], Callable[[Any], tuple[Any, ...]]]:
    """The tape's forward and backward functions: which values flow as scalars, which
    Variables a gradient rule reads, which steps have a gradient to compute."""
    consumers: list[list[_Step]] = [[] for _ in slot_vars]
    for step in steps:
        for s in step.ins:
            consumers[s].append(step)
    scalar = scalar_slots(steps, [_meta(v._data) for v in slot_vars], consumers)
    inline: dict[int, ScalarCode] = {}
    for i, step in enumerate(steps):  # 0-d values only: written as the op's expressions
        if step.scalar_capable() and all(scalar[s] for s in (*step.ins, *step.outs)):
            code = scalar_code(step)
            if code is not None:
                inline[i] = code
    read = [False] * len(slot_vars)  # read by a gradient rule through its Variable
    for i, step in enumerate(steps):
        if i not in inline and (step.f.saves_inputs or not step.simple()):
            for s in step.ins:
                read[s] = True
    kept = (kept_slots(steps, inline), [()])
    inputs = list(range(nargs)) + live_slots
    forward = forward_function(
        steps, slot_vars, inputs, nargs, constants, out, scalar, read, inline, kept
    )
    graph = [s for s in steps if any(requires[o] for o in s.outs)]
    values = {s: a[()] if scalar[s] else a for s, a in constants.items()}
    by_step = {id(steps[i]): code for i, code in inline.items()}
    backward = backward_function(graph, out, inputs, requires, by_step, kept, values)
    return forward, backward


# ---------------------------------------------------------------------- the call's node
class _Call(Function):
    """One replayed call of a traced function, as one node of the eager graph: its inputs
    are the arguments and the Variables the function reads from outside."""

    def __init__(self, name: str, tape: _Tape, ints: tuple[Array, ...] = ()) -> None:
        self.name = name
        self.tape = tape
        self.ints = ints  # the integer arguments: not inputs (no gradient), given to the ops

    def _label(self) -> str:  # type: ignore[override]  # per instance: names the traced function
        return f"trace({self.name})"

    def forward(self, *arrays: Array) -> Array:
        tape = self.tape
        with tape.lock:
            tape.relabel(self.ints)
            y = tape.forward(arrays)
            tape.owner = weakref.ref(self)
        return y

    def backward_array(self, gy: Any) -> tuple[Any, ...]:
        tape = self.tape
        with tape.lock:
            owner = tape.owner
            if owner is None or owner() is not self:
                # the tape holds a later call's values: run this call's forward again
                tape.relabel(self.ints)
                tape.forward(tuple([self.inputs[i]._data for i in range(len(self.inputs))]))
                tape.owner = weakref.ref(self)
            return tape.backward(gy)

    def backward(self, gy: Variable) -> tuple[Variable | None, ...]:
        raise TraceError(
            f"{self._label()}: backward(create_graph=True) through a traced call; a traced "
            "function is differentiated to first order. For higher derivatives call the "
            "function itself (not traced)"
        )
