"""Forward mode: tangents carried beside the values in one run (dual numbers).

A pass (``dual_pass()``; ``dezero_ext.func.jvp`` opens one) maps Variables to their tangents.
While a pass is open in any thread, ``Function.__call__`` is swapped for ``_dual_call``
(``function.DUAL``; the plain call checks nothing, so forward mode costs it no time): each op
computes its output as usual, then the output's tangent ``J @ t`` from its inputs' tangents:

- by ``jvp_array`` on arrays when the tangent need not be differentiable (no enclosing pass
  and no graph recorded: ``func.jvp`` runs under ``no_grad``), else by ``jvp`` on Variables;
- **the fallback**, for an op with no rule (a plugin written before forward mode): the
  transpose of its VJP, by differentiating its ``backward``. With ``u`` a dummy cotangent,
  ``g(u) = Jᵀu`` is linear in ``u``, so ``J t = d⟨g(u), t⟩/du``: one backward recorded on
  fresh leaves and one backward through it. Correct wherever ``create_graph`` is (the op's
  backward is built from Variables). Where the tangent must itself be differentiable, the
  fallback reads ``J t`` one output element at a time (``⟨Jᵀ e_k, t⟩``, a backward per
  element, every step recorded): exact, but slow for large outputs.

Passes nest (forward-over-forward, JAX's levels): an op's tangent for the innermost pass is
computed with that pass closed and the enclosing ones open, which so carry their tangents
through the rule itself; no pass sees another's tangents (no perturbation confusion).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, TypeAlias

import numpy as np

from dezero_ext.core.config import ENABLE_BACKPROP
from dezero_ext.core.function import (
    _FLOAT_SCALARS,
    _INPUTS,
    DUAL,
    FunctionBase,
    astype,
    install_calls,
    is_set,
    plain_call,
    set_missing,
)
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = ["DualPass", "Tangent", "dual_pass"]

Tangent: TypeAlias = "Variable | Array"
"""A tangent in a pass: an array (from ``jvp_array``) or a Variable (from ``jvp``)."""


class DualPass:
    """The tangents of one forward-mode pass, by Variable. It holds the Variables it maps
    until the pass closes: an op whose backward reads its output (``exp``) must find the
    very Variable that carries the tangent, not a stand-in rebuilt from the saved array."""

    __slots__ = ("__weakref__", "_tangents")

    def __init__(self) -> None:
        self._tangents: dict[Variable, Tangent] = {}

    def seed(self, x: Variable, tangent: Tangent) -> None:
        """Give ``x`` its tangent (of its shape) in this pass."""
        data = tangent._data if isinstance(tangent, Variable) else tangent
        if data.shape != x._data.shape:
            raise ValueError(
                f"jvp: a tangent of shape {data.shape} for a primal of shape "
                f"{x._data.shape}; give each primal a tangent of its shape"
            )
        self._tangents[x] = tangent

    def tangent(self, y: Variable) -> Tangent | None:
        """``y``'s tangent in this pass (None: zero, ``y`` does not depend on the seeds)."""
        return self._tangents.get(y)


_recording: Final = ENABLE_BACKPROP.get  # bound once: asked every op

_STACK: Final[ContextVar[tuple[DualPass, ...]]] = ContextVar("dezero_ext.dual", default=())
_LOCK: Final = threading.Lock()


@contextmanager
def dual_pass() -> Iterator[DualPass]:
    """Open a forward-mode pass (inside any already open: the new one is innermost)."""
    dual = DualPass()
    token = _STACK.set((*_STACK.get(), dual))
    with _LOCK:
        DUAL.append(_dual_call)
        install_calls()
    try:
        yield dual
    finally:
        with _LOCK:
            DUAL.pop()
            install_calls()
        _STACK.reset(token)


def open_passes() -> int:
    """How many forward-mode passes are open in this context."""
    return len(_STACK.get())


def _dual_call(f: FunctionBase, *inputs: Operand) -> Any:
    """``f(*inputs)`` carrying tangents: the value (and the enclosing passes' tangents) with
    the innermost pass closed, then the innermost pass's tangents."""
    stack = _STACK.get()
    if not stack:  # another thread's pass, or inside a rule of the outermost one
        return plain_call(f)(f, *inputs)
    if f.generation >= 0:  # a second call of one instance: a copy records it
        f = f._fresh()
    token = _STACK.set(stack[:-1])
    try:
        result = _call(f, inputs)
        _carry(f, inputs, result, stack[-1], nested=len(stack) > 1)
    finally:
        _STACK.reset(token)
    return result


def _call(f: FunctionBase, inputs: Sequence[Operand]) -> Any:
    return f(*inputs)  # type: ignore[operator]  # a Function or MultiOutputFunction: FunctionBase is never called itself


def _carry(
    f: FunctionBase, inputs: tuple[Operand, ...], result: Any, dual: DualPass, nested: bool
) -> None:
    """Set the tangents of ``f``'s outputs ``result`` in ``dual``."""
    recorded = f.generation >= 0 and is_set(f, _INPUTS)
    xs: tuple[Variable, ...] = f.inputs if recorded else f._prepare_inputs(inputs)
    table = dual._tangents
    tangents = [table.get(x) for x in xs]
    if all(t is None for t in tangents):
        return
    if not nested and not f._multi and f.jvp_array is not None and not _recording():
        _array_tangent(f, xs, tangents, result, table)
        return
    ys: tuple[Variable, ...] = result if isinstance(result, tuple) else (result,)
    added = _expose(f, xs, ys)
    try:
        if nested or ENABLE_BACKPROP.get():
            out = _variable_tangents(f, xs, tangents, ys)
        else:
            out = _array_tangents(f, xs, tangents, ys)
    finally:
        for name in added:
            delattr(f, name)
    for y, t in zip(ys, out, strict=True):
        if t is not None:
            dual._tangents[y] = t


def _expose(f: FunctionBase, xs: tuple[Variable, ...], ys: tuple[Variable, ...]) -> list[str]:
    """Give ``f`` what its rules read (``inputs``, its outputs, the output's array) where the
    call did not record it; the names added, to take back afterwards."""
    wanted: dict[str, object] = {"inputs": xs}
    if f._multi:
        wanted["outputs"] = tuple([weakref.ref(y) for y in ys])
    else:
        data = ys[0]._data
        wanted["_out"] = weakref.ref(ys[0])
        wanted["_y"] = data if data.shape else data[()]
    return set_missing(f, wanted)


# ---------------------------------------------------------------------- the rules
def _array_tangent(
    f: FunctionBase,
    xs: tuple[Variable, ...],
    tangents: list[Tangent | None],
    y: Variable,
    table: dict[Variable, Tangent],
) -> None:
    """The common case, kept lean (W9): one output, ``jvp_array``, nothing recorded. A
    tangent of the output's shape and dtype is taken as it is; anything else goes through
    ``checked_tangents``."""
    data = y._data
    # what the rule reads, which an unrecorded call did not keep (as _expose); taken
    # back afterwards: the instance may be called again
    given = {"inputs": xs, "_out": weakref.ref(y), "_y": data if data.shape else data[()]}
    added = set_missing(f, given)
    rule = f.jvp_array
    assert rule is not None  # the caller checked
    try:
        t: Any = rule(*[t._data if isinstance(t, Variable) else t for t in tangents])
    finally:
        for name in added:
            delattr(f, name)
    cls = t.__class__
    if (
        (cls is np.ndarray or cls in _FLOAT_SCALARS)
        and t.shape == data.shape
        and t.dtype == data.dtype
    ):
        table[y] = t
        return
    (checked,) = checked_tangents(f, t, (y,), "jvp_array")
    if checked is not None:
        table[y] = checked


def _array_tangents(
    f: FunctionBase,
    xs: tuple[Variable, ...],
    tangents: list[Tangent | None],
    ys: tuple[Variable, ...],
) -> list[Tangent | None]:
    """Tangents nothing will differentiate: ``jvp_array``, else ``jvp`` recording nothing,
    else the fallback."""
    arrays = [None if t is None else t._data if isinstance(t, Variable) else t for t in tangents]
    if f.jvp_array is not None:
        return checked_tangents(f, f.jvp_array(*arrays), ys, "jvp_array")
    if f.jvp is not None:
        token = ENABLE_BACKPROP.set(False)
        try:
            wrapped = [None if a is None else Variable(a, requires_grad=False) for a in arrays]
            out = checked_tangents(f, f.jvp(*wrapped), ys, "jvp")
        finally:
            ENABLE_BACKPROP.reset(token)
        return [t._data if isinstance(t, Variable) else t for t in out]
    return fallback_arrays(f, xs, arrays, ys)


def _variable_tangents(
    f: FunctionBase,
    xs: tuple[Variable, ...],
    tangents: list[Tangent | None],
    ys: tuple[Variable, ...],
) -> list[Tangent | None]:
    """Tangents an enclosing transform differentiates: ``jvp``, else the fallback."""
    wrapped = [_as_variable(t) for t in tangents]
    if f.jvp is not None:
        return checked_tangents(f, f.jvp(*wrapped), ys, "jvp")
    return fallback_variables(f, xs, wrapped, ys)


def _as_variable(t: Tangent | None) -> Variable | None:
    if t is None or isinstance(t, Variable):
        return t
    return Variable(np.asarray(t), requires_grad=False)


def checked_tangents(
    f: FunctionBase, result: object, ys: Sequence[Variable], rule: str
) -> list[Tangent | None]:
    """What ``f``'s ``rule`` (``jvp`` or ``jvp_array``) returned, checked as the backward
    pass checks gradients: one tangent per output, each of its output's shape, real; a
    tangent of another floating dtype is cast to the output's."""
    n = len(ys)
    if f._multi:
        if not isinstance(result, (tuple, list)) or len(result) != n:
            count = len(result) if isinstance(result, (tuple, list)) else 1
            raise ValueError(
                f"{f._label()}.{rule} returned {count} tangents for {n} outputs; return one "
                "per output, in output order (None for a zero tangent)"
            )
        items: tuple[object, ...] = tuple(result)
    elif isinstance(result, (tuple, list)):
        if len(result) != 1:
            raise ValueError(
                f"{f._label()}.{rule} returned {len(result)} tangents for its one output; "
                "return one tangent (None for a zero tangent)"
            )
        items = tuple(result)
    else:
        items = (result,)
    return [_fit(f, rule, i, y, t) for i, (y, t) in enumerate(zip(ys, items, strict=True))]


def _fit(f: FunctionBase, rule: str, index: int, y: Variable, t: object) -> Tangent | None:
    if t is None:
        return None
    variables = rule == "jvp"
    if variables and not isinstance(t, Variable):
        raise TypeError(
            f"{f._label()}.jvp returned {type(t).__name__} for output {index}; jvp returns "
            "Variables computed from the tangents (so an enclosing transform differentiates "
            "them), one per output"
        )
    if not variables and isinstance(t, (int, float)):
        t = np.asarray(t)
    data = t._data if isinstance(t, Variable) else t
    if not isinstance(data, (np.ndarray, np.generic)):
        raise TypeError(
            f"{f._label()}.{rule} returned {type(t).__name__} for output {index}; it returns "
            "NumPy arrays, one per output"
        )
    if data.dtype.kind not in "fiu":
        raise TypeError(
            f"{f._label()}.{rule} returned a tangent of dtype {data.dtype} for output {index} "
            f"(dtype {y._data.dtype}); a tangent is real: return one of the output's dtype"
        )
    if data.shape != y._data.shape:
        raise ValueError(
            f"{f._label()}.{rule} returned a tangent of shape {data.shape} for output {index} "
            f"of shape {y._data.shape}; a tangent has its output's shape (the tangent of a "
            "broadcast input is broadcast too: np.broadcast_to, or add it to the others)"
        )
    if data.dtype != y._data.dtype:
        if isinstance(t, Variable):
            return astype(t, y._data.dtype)
        return np.asarray(data, dtype=y._data.dtype)
    return t if isinstance(t, Variable) else np.asarray(data)


# ---------------------------------------------------------------------- the fallback
def _gradients(f: FunctionBase, result: object) -> tuple[Variable | None, ...]:
    items = result if isinstance(result, (tuple, list)) else (result,)
    return tuple([g if isinstance(g, Variable) else None for g in items])


def fallback_arrays(
    f: FunctionBase,
    xs: Sequence[Variable],
    tangents: Sequence[Array | None],
    ys: Sequence[Variable],
) -> list[Tangent | None]:
    """``J t`` for an op with no rule, as arrays: ``d⟨Jᵀu, t⟩/du`` on a recorded copy of the
    call (fresh leaves: nothing of the caller's graph is touched)."""
    token = ENABLE_BACKPROP.set(True)
    try:
        twin = f._fresh()
        leaves = [
            Variable(np.array(x._data), requires_grad=t is not None)
            for x, t in zip(xs, tangents, strict=True)
        ]
        outs = _call(twin, leaves)
        outs = outs if isinstance(outs, tuple) else (outs,)
        us = [Variable(np.zeros_like(y._data)) for y in outs]  # the dummy cotangents
        total: Variable | None = None
        for g, t in zip(_gradients(twin, twin.backward(*us)), tangents, strict=True):
            if g is not None and t is not None:
                term = (g * np.asarray(t)).sum()
                total = term if total is None else total + term
        if total is not None:
            total.backward()
        return [None if u.grad is None else u.grad._data for u in us]
    finally:
        ENABLE_BACKPROP.reset(token)


def fallback_variables(
    f: FunctionBase,
    xs: Sequence[Variable],
    tangents: Sequence[Variable | None],
    ys: Sequence[Variable],
) -> list[Tangent | None]:
    """``J t`` for an op with no rule, differentiable: ``Σ_k e_k ⟨Jᵀ e_k, t⟩`` over the
    output elements, each step recorded (a backward per element of the output)."""
    token = ENABLE_BACKPROP.set(True)
    try:
        twin = f._fresh()
        outs = _call(twin, [_differentiable(x, t) for x, t in zip(xs, tangents, strict=True)])
        outs = outs if isinstance(outs, tuple) else (outs,)
        zeros = [np.zeros_like(y._data) for y in outs]
        result: list[Tangent | None] = []
        for j, y in enumerate(outs):
            total: Variable | None = None
            for k in range(y._data.size):
                basis = np.zeros_like(y._data)
                basis.flat[k] = 1
                seeds = [
                    Variable(basis if i == j else z, requires_grad=False)
                    for i, z in enumerate(zeros)
                ]
                grads = _gradients(twin, twin.backward(*seeds))
                for g, t in zip(grads, tangents, strict=True):
                    if g is not None and t is not None:
                        term = (g * t).sum() * basis
                        total = term if total is None else total + term
            result.append(total)
        return result
    finally:
        ENABLE_BACKPROP.reset(token)


def _differentiable(x: Variable, t: Variable | None) -> Variable:
    """``x``, or for a constant with a tangent a differentiable copy of it (the op's
    backward may skip a constant), carrying ``x``'s tangents of the enclosing passes."""
    if t is None or x.requires_grad:
        return x
    copy = Variable(x._data)
    for dual in _STACK.get():
        outer = dual.tangent(x)
        if outer is not None:
            dual._tangents[copy] = outer
    return copy
