"""A tape's replay as generated Python code (see ``core/tape.py``): one straight-line
function for the forward pass and one for the backward pass, compiled once per tape.

A loop over steps pays, per op, for unpacking the step's record, indexing a list of values
and testing the step's kind; a straight-line function pays for none of it: each value is a
local variable, each op's ``forward`` and ``backward_array`` a bound method looked up once,
and what is known when recording (which inputs need a gradient, which values are read by a
gradient rule, which gradients are summed from several uses) is decided once, in the code
generated. The generated source names only what this module generates (``v3``, ``F3``,
``g3``); the objects those names stand for are passed in the function's namespace, never
written into its text.

Values of shape ``()`` flow as NumPy scalars between ops that declare ``forward_scalar``
(NumPy computes on scalars several times faster than on 0-d arrays, and an op's gradient
rule already receives 0-d values as scalars); anything else flows as arrays, as in eager.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from numpy import asarray, ndarray

from dezero_ext.core import engine as _engine
from dezero_ext.core.config import TRAIN
from dezero_ext.core.function import _FLOAT_SCALARS, FunctionBase
from dezero_ext.core.variable import Array, Variable

__all__: list[str] = []


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
    values), and what its outputs' shapes and dtypes were when recorded."""

    __slots__ = (
        "f",
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
        self.ins = ins
        self.outs = outs
        self.out_vars = out_vars
        self.out_metas = tuple([_meta(y._data) for y in out_vars])
        self.grad_metas = grad_metas
        self.multi = f._multi
        self.needs: tuple[bool, ...] = ()
        self.mode: bool | None = None
        """The training mode to run ``forward`` in, when not the mode of the whole call."""

    def simple(self) -> bool:
        """One output, the call's own mode: the generated code runs it inline."""
        return not self.multi and self.mode is None

    def scalar_capable(self) -> bool:
        return self.simple() and self.f.forward_scalar is not None


ScalarCode = tuple[str, tuple[str, ...], dict[str, object]]
"""An op's ``scalar_code()``: its ``forward_scalar`` and the gradient of each input as Python
expressions on NumPy scalars, which the replay writes into its code instead of calling the
op (one call fewer per op each way). Placeholders: ``{x0}``, ``{x1}``, ... the inputs,
``{y}`` the output, ``{gy}`` the output's gradient, and the names the dict binds (an op's
constant, a NumPy function). They must compute what ``forward_scalar`` and ``backward_array``
compute on 0-d values, bit for bit: ``dezero-ext check --traced`` compares every op's replay
on 0-d values with its eager call."""

_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


def scalar_code(step: _Step) -> ScalarCode | None:
    """The op's inlined form, when it has one for every input (else None: it is called)."""
    method = getattr(step.f, "scalar_code", None)
    code: ScalarCode | None = method() if method is not None else None
    if code is None or len(code[1]) != len(step.ins):
        return None
    return code


def kept_slots(steps: list[_Step], inline: dict[int, ScalarCode]) -> list[int]:
    """The values an inlined gradient reads (the forward hands them to the backward)."""
    kept: set[int] = set()
    for i, code in inline.items():
        step = steps[i]
        for grad in code[1]:
            for name in _PLACEHOLDER.findall(grad):
                if name == "y":
                    kept.add(step.outs[0])
                elif name[0] == "x" and name[1:].isdigit():
                    kept.add(step.ins[int(name[1:])])
    return sorted(kept)


def _expression(
    src: _Source, template: str, i: int, step: _Step, bound: dict[str, object], gy: str = ""
) -> str:
    names = {f"x{k}": f"v{s}" for k, s in enumerate(step.ins)}
    names.update(y=f"v{step.outs[0]}", gy=gy)
    for key, value in bound.items():
        names[key] = src.name(f"S{key}_", i, value)
    return template.format(**names)


class _Source:
    """Generated lines and the namespace of the objects they name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "ndarray": ndarray,
            "asarray": asarray,
            "RETRACE": _RetraceError,
        }

    def add(self, line: str, depth: int = 1) -> None:
        self.lines.append("    " * depth + line)

    def name(self, prefix: str, index: int, value: object) -> str:
        name = f"{prefix}{index}"
        self.names[name] = value
        return name

    def compile(self, what: str) -> Callable[..., Any]:
        code = compile("\n".join(self.lines) + "\n", f"<trace {what}>", "exec")
        exec(code, self.names)
        function: Callable[..., Any] = self.names[what]
        return function


# ---------------------------------------------------------------------- forward
def scalar_slots(
    steps: list[_Step], slot_metas: list[Meta], consumers: list[list[_Step]]
) -> list[bool]:
    """Which values flow as NumPy scalars: those of shape ``()`` whose every reader is an op
    with ``forward_scalar``."""
    return [
        meta[0] == () and all(step.scalar_capable() for step in consumers[s])
        for s, meta in enumerate(slot_metas)
    ]


def forward_function(
    steps: list[_Step],
    slot_vars: list[Variable],
    inputs: list[int],
    nargs: int,
    constants: dict[int, Array],
    out: int,
    scalar: list[bool],
    read: list[bool],
    inline: dict[int, ScalarCode],
    kept: tuple[list[int], list[tuple[Any, ...]]],
) -> Callable[[tuple[Array, ...]], Array]:
    """``forward(arrays)``: the tape run on ``arrays`` (the values of the slots ``inputs``:
    the ``nargs`` arguments, then the Variables read from outside), returning the output's
    array. ``read[s]``: whether a gradient rule reads slot ``s``'s Variable (the replay sets
    its ``_data``; an outside Variable's is its own). ``inline``: the steps written as their
    expressions; ``kept``: the slots their gradients read, and the box the forward leaves
    them in for the backward."""
    src = _Source()
    src.names["KEPT"] = kept[1]
    src.add("def forward(A):", 0)
    for k, s in enumerate(inputs):
        src.add(f"v{s} = A[{k}]" + ("[()]" if scalar[s] else ""))
        if read[s] and k < nargs:
            src.add(f"{src.name('O', s, slot_vars[s])}._data = v{s}")
    for s, a in constants.items():
        src.names[f"v{s}"] = a[()] if scalar[s] else a  # read as a global: fixed
    for i, step in enumerate(steps):
        code = inline.get(i)
        if code is None:
            _forward_lines(src, i, step, scalar, read)
            continue
        (o,) = step.outs
        src.add(f"v{o} = {_expression(src, code[0], i, step, code[2])}")
        kind = src.name("T", i, step.out_metas[0][1].type)
        fix = src.name("FIX", i, _fixer(step.f, step.out_metas[0][1]))
        src.add(f"if v{o}.__class__ is not {kind}: v{o} = {fix}(v{o})[()]")
        if read[o]:  # a gradient rule of an op not inlined reads it
            src.add(f"{src.name('O', o, step.out_vars[0])}._data = v{o}")
    if kept[0]:
        src.add("KEPT[0] = (" + "".join(f"v{s}, " for s in kept[0]) + ")")
    src.add(f"return asarray(v{out})" if scalar[out] else f"return v{out}")
    return src.compile("forward")


def _forward_lines(src: _Source, i: int, step: _Step, scalar: list[bool], read: list[bool]) -> None:
    f = step.f
    args = ", ".join(f"v{s}" for s in step.ins)
    if not step.simple():  # several outputs, or a mode of its own: a helper runs it
        outs = "".join(f"v{s}, " for s in step.outs)
        src.add(f"{outs}= {src.name('SLOW', i, _slow_forward(step))}({args})")
        for s in step.outs:
            if scalar[s]:
                src.add(f"v{s} = v{s}[()]")
        return
    (o,) = step.outs
    shape, dtype = step.out_metas[0]
    fix = src.name("FIX", i, _fixer(f, dtype))
    if step.scalar_capable() and all(scalar[s] for s in step.ins):
        src.add(f"v{o} = {src.name('FS', i, f.forward_scalar)}({args})")
        kind = src.name("T", i, dtype.type)
        src.add(f"if v{o}.__class__ is not {kind}: v{o} = {fix}(v{o})[()]")
        if not scalar[o]:
            src.add(f"v{o} = asarray(v{o})")
    else:
        src.add(f"v{o} = {src.name('F', i, getattr(f, 'forward'))}({args})")  # noqa: B009 - FunctionBase declares none
        src.add(
            f"if v{o}.__class__ is not ndarray or v{o}.dtype is not {src.name('D', i, dtype)}: "
            f"v{o} = {fix}(v{o})"
        )
        src.add(f"if v{o}.shape != {shape!r}: raise RETRACE")  # the values decide the shape
        if scalar[o]:
            src.add(f"v{o} = v{o}[()]")
    if read[o]:
        src.add(f"{src.name('O', o, step.out_vars[0])}._data = v{o}")
    if f.saves_output:  # kept for backward_array: a 0-d output as a NumPy scalar
        kept = f"v{o}" if shape or scalar[o] else f"v{o}[()]"
        src.add(f"{src.name('K', i, f)}._y = {kept}")


def _fixer(f: FunctionBase, dtype: np.dtype[Any]) -> Callable[[object], Array]:
    """What makes an output that is not an ndarray of ``dtype`` one, or retraces."""

    def fix(y: object) -> Array:
        a = asarray(y) if y.__class__ in _FLOAT_SCALARS else f._output_array(y)
        if a.dtype != dtype:
            raise _RetraceError
        return a

    return fix


def _slow_forward(step: _Step) -> Callable[..., tuple[Array, ...]]:
    """A step with several outputs, or run in a training mode of its own."""
    f = step.f
    forward: Callable[..., Any] = getattr(f, "forward")  # noqa: B009 - FunctionBase declares none

    def run(*xs: Array) -> tuple[Array, ...]:
        if step.mode is not None:
            token = TRAIN.set(step.mode)
            try:
                result = forward(*xs)
            finally:
                TRAIN.reset(token)
        else:
            result = forward(*xs)
        ys = result if step.multi else (result,)
        if not isinstance(ys, (tuple, list)) or len(ys) != len(step.outs):
            raise _RetraceError
        arrays: list[Array] = []
        for i, (v, y, meta) in enumerate(zip(step.out_vars, ys, step.out_metas, strict=True)):
            a = f._output_array(y, f"as output {i}" if step.multi else "as its output")
            if a.shape != meta[0] or a.dtype != meta[1]:
                raise _RetraceError
            v._data = a
            arrays.append(a)
        if f.saves_output and not step.multi:
            f._y = a if a.shape else a[()]  # Function's saved output
        return tuple(arrays)

    return run


# ---------------------------------------------------------------------- backward
_POSITIONS: Final = tuple(range(256))
"""Input positions, for the engine's error messages (it names an input by its position)."""


def backward_function(
    graph: list[_Step],
    out: int,
    wanted: list[int],
    requires: list[bool],
    inline: dict[int, ScalarCode],
    kept: tuple[list[int], list[tuple[Any, ...]]],
    constants: dict[int, Any],
) -> Callable[[Any], tuple[Any, ...]]:
    """``backward(gy)``: the gradients of the slots ``wanted`` (None where none flows or the
    slot requires none), from the output's gradient ``gy``; the steps in ``graph`` (those on
    a path to the output from a value that requires a gradient) run backward in reverse.
    ``inline`` (by ``id`` of the step): gradients written as expressions, on the values the
    forward ``kept`` and the ``constants`` (as the forward sees them)."""
    src = _Source()
    src.names["KEPT"] = kept[1]
    for s, value in constants.items():
        src.names[f"v{s}"] = value
    src.add("def backward(gy):", 0)
    if kept[0]:
        src.add("".join(f"v{s}, " for s in kept[0]) + "= KEPT[0]")
    fed = {out}  # the slots a gradient may reach: a step none of whose outputs is reached
    live: list[_Step] = []  # is skipped, as are its inputs' gradients from it
    for step in reversed(graph):
        if any(s in fed for s in step.outs) and any(step.needs):
            live.append(step)
            fed.update(s for s, need in zip(step.ins, step.needs, strict=True) if need)
    outs = {s for step in live for s in step.outs}
    src.add(" = ".join(f"g{s}" for s in sorted(fed | outs | set(wanted))) + " = None")
    src.add(f"g{out} = gy")
    assigned = {out}
    for i, step in enumerate(live):
        _backward_lines(src, i, step, assigned, inline.get(id(step)))
    src.add("return (" + "".join(f"g{s}, " if requires[s] else "None, " for s in wanted) + ")")
    return src.compile("backward")


def _backward_lines(
    src: _Source, i: int, step: _Step, assigned: set[int], code: ScalarCode | None
) -> None:
    """Step ``i``'s gradient: its rule called on its output's gradient (or its ``code``'s
    expressions), each result checked (one identity test when it is what the engine
    expects) and added to its input's. The first gradient the code gives a slot is
    assigned, not added (it was None)."""
    f = step.f
    n = len(step.ins)
    one = n == 1 and not step.multi
    if code is not None:
        src.add(f"if g{step.outs[0]} is not None:")
        one = False
    elif step.multi:
        outs = step.outs
        src.add("if " + " or ".join(f"g{s} is not None" for s in outs) + ":")
        zeros = src.name("Z", i, [np.zeros(*meta) for meta in step.out_metas])
        gys = ", ".join(f"g{s} if g{s} is not None else {zeros}[{k}]" for k, s in enumerate(outs))
        src.add(f"x = {src.name('AS', i, _array_step(f))}([{gys}])", 2)
        src.add(f"if len(x) != {n}: {src.name('CE', i, _count_check(f, step.ins))}(x)", 2)
        for s in outs:
            src.add(f"g{s} = None", 2)
    else:
        (o,) = step.outs
        src.add(f"if g{o} is not None:")
        rule = f.backward_array
        call = src.name("R", i, rule) if rule is not None else src.name("AS", i, _array_step(f))
        src.add(f"x = {call}(g{o})", 2)
        if not one:
            count = src.name("CE", i, _count_check(f, step.ins))
            src.add(f"if x.__class__ is not tuple or len(x) != {n}: x = {count}(x)", 2)
    for k, (s, need) in enumerate(zip(step.ins, step.needs, strict=True)):
        if not need:
            continue
        meta = step.grad_metas[k]
        fit = src.name(f"FIT{k}_", i, _fitter(f, meta, k, step.ins if one else None))
        target = f"g{s}" if s not in assigned else "x" if one else "gx"
        if code is not None:
            gy = f"g{step.outs[0]}"
            src.add(f"{target} = {_expression(src, code[1][k], i, step, code[2], gy)}", 2)
        elif target != "x":
            src.add(f"{target} = {'x' if one else f'x[{k}]'}", 2)
        if meta.__class__ is tuple:
            shape, dtype = meta
            test = (
                f"{target}.__class__ is not ndarray or {target}.shape != {shape!r} or "
                f"{target}.dtype is not {src.name(f'GD{k}_', i, dtype)}"
            )
        else:
            test = f"{target}.__class__ is not {src.name(f'GT{k}_', i, meta)}"
        src.add(f"if {test}: {target} = {fit}({target})", 2)
        if s in assigned:
            src.add(
                f"if {target} is not None: g{s} = {target} if g{s} is None else g{s} + {target}", 2
            )
        assigned.add(s)


def _array_step(f: FunctionBase) -> Callable[[Any], tuple[Any, ...]]:
    def step(gys: Any) -> tuple[Any, ...]:
        return _engine._array_step(f, gys)

    return step


def _count_check(f: FunctionBase, ins: tuple[int, ...]) -> Callable[[Any], tuple[Any, ...]]:
    def check(gxs: Any) -> tuple[Any, ...]:
        gxs = gxs if gxs.__class__ is tuple else (gxs,)
        if len(gxs) != len(ins):
            raise _engine._count_error(f, gxs, ins)
        return gxs  # type: ignore[no-any-return]  # checked: a tuple

    return check


def _fitter(
    f: FunctionBase, meta: type | Meta, k: int, ins: tuple[int, ...] | None
) -> Callable[[Any], Any]:
    """The engine's checks, casts and errors, for a gradient that is not what ``meta`` says
    (None passes; for a one-input op's result, ``ins``, a tuple is unpacked, checked)."""
    count = _count_check(f, ins) if ins is not None else None

    def fit(g: Any) -> Any:
        if count is not None and g.__class__ is tuple:
            g = count(g)[0]
        if g is None:
            return None
        return _engine._fit(f, g, meta, _POSITIONS, _POSITIONS[k], False)

    return fit
