"""The transforms of ``dezero_ext.func`` that differentiate once: ``grad``,
``value_and_grad``, ``vjp``, ``jvp``, and ``functional_call``; the helpers the Jacobians share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, ParamSpec, Protocol, TypeAlias, overload

import numpy as np

from dezero_ext.core.config import ENABLE_BACKPROP
from dezero_ext.core.engine import gradients
from dezero_ext.core.forward import dual_pass
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = ["Model", "functional_call", "grad", "jvp", "value_and_grad", "vjp"]

P = ParamSpec("P")
Value: TypeAlias = "Array | Variable"
"""What a transform returns: an array at the top level, a Variable inside another transform
(standing in for the array, differentiable by the enclosing transform)."""
Argnums: TypeAlias = "int | tuple[int, ...]"

_DEPTH: Final[ContextVar[int]] = ContextVar("dezero_ext.func.depth", default=0)


@contextmanager
def _level() -> Iterator[bool]:
    """One transform deeper; yields whether it is nested inside another."""
    depth = _DEPTH.get()
    token = _DEPTH.set(depth + 1)
    try:
        yield depth > 0
    finally:
        _DEPTH.reset(token)


def _primal(value: object, nested: bool, where: str) -> Variable:
    """An argument the transform differentiates with respect to, as a Variable: at the top
    level a fresh leaf of a copy (the caller's array and Variable are left alone), inside
    another transform the Variable itself (so the enclosing one sees through)."""
    if isinstance(value, Variable):
        return value if nested else Variable(np.array(value._data))
    try:
        return Variable(np.array(value, dtype=None if _floating(value) else np.float64))
    except TypeError as exc:
        raise TypeError(f"{where}: {exc}") from None


def _floating(value: object) -> bool:
    return isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind == "f"


def _out(value: Variable | None, like: Variable, nested: bool) -> Value:
    """A result handed back: an independent array at the top level, a Variable inside."""
    if value is None:
        zeros = np.zeros_like(like._data)
        return Variable(zeros, requires_grad=False) if nested else zeros
    return value if nested else np.array(value._data)


def _output(y: object, where: str) -> Variable:
    if not isinstance(y, Variable):
        raise TypeError(
            f"{where}: the function returned {type(y).__name__}, not a Variable; return the "
            "Variable computed from the inputs (an output that does not depend on them has "
            "zero derivatives: return Variable(array))"
        )
    return y


def _outputs(result: object, where: str) -> tuple[tuple[Variable, ...], bool]:
    """What ``f`` returned as a tuple of Variables, and whether it returned a tuple (the
    transforms then hand back tuples, one entry per output, as ``torch.func`` does)."""
    if isinstance(result, tuple):
        if not result:
            raise ValueError(f"{where}: the function returned an empty tuple; return Variables")
        return tuple([_output(y, where) for y in result]), True
    return (_output(result, where),), False


def _root(ys: Sequence[Variable], us: Sequence[Value]) -> tuple[Variable, Variable]:
    """One root and its seed for the gradients of ``sum_k <us[k], ys[k]>``: the one output
    itself, or for several a recorded sum (the engine walks from one root)."""
    if len(ys) == 1:
        u = us[0]
        return ys[0], u if isinstance(u, Variable) else Variable(np.asarray(u))
    token = ENABLE_BACKPROP.set(True)
    try:
        total = sum([(y * u).sum() for y, u in zip(ys, us, strict=True)], Variable(np.zeros(())))
    finally:
        ENABLE_BACKPROP.reset(token)
    return total, Variable(np.ones_like(total._data), requires_grad=False)


def _indices(argnums: Argnums, count: int, where: str) -> tuple[int, ...]:
    picked = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in picked:
        if not isinstance(i, int) or not -count <= i < count:
            raise ValueError(
                f"{where}: argnums {argnums!r} names no positional argument of the {count} "
                "given; give an int or a tuple of ints in range"
            )
    return tuple(i % count for i in picked)


def _value_and_grads(
    f: Callable[..., Variable],
    argnums: Argnums,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    where: str,
) -> tuple[Value, tuple[Value, ...]]:
    with _level() as nested:
        picked = _indices(argnums, len(args), where)
        xs = list(args)
        for i in picked:
            xs[i] = _primal(args[i], nested, where)
        token = ENABLE_BACKPROP.set(True)
        try:
            y = _output(f(*xs, **kwargs), where)
            if y._data.size != 1:
                raise ValueError(
                    f"{where}: the function returned a Variable of shape {y._data.shape}; "
                    "grad needs one value (size 1): reduce it (y.sum()), or use vjp or "
                    "jacobian for a vector output"
                )
            targets = [xs[i] for i in picked]
            seed = Variable(np.ones_like(y._data), requires_grad=False)
            found = gradients(y, targets, seed, create_graph=nested)  # type: ignore[arg-type]  # xs[i] set to Variables just above
        finally:
            ENABLE_BACKPROP.reset(token)
        value = y if nested else np.array(y._data)
        return value, tuple([_out(g, x, nested) for g, x in zip(found, targets, strict=True)])  # type: ignore[arg-type]  # as above


@overload
def grad(f: Callable[[Variable], Variable], argnums: int = 0) -> Callable[[Value], Array]: ...
@overload
def grad(
    f: Callable[[Variable, Variable], Variable], argnums: int = 0
) -> Callable[[Value, Value], Array]: ...
@overload
def grad(
    f: Callable[[Variable, Variable], Variable], argnums: tuple[int, ...]
) -> Callable[[Value, Value], tuple[Array, ...]]: ...
@overload
def grad(f: Callable[P, Variable], argnums: int = 0) -> Callable[P, Array]: ...
@overload
def grad(f: Callable[P, Variable], argnums: tuple[int, ...]) -> Callable[P, tuple[Array, ...]]: ...
def grad(f: Callable[P, Variable], argnums: Argnums = 0) -> Callable[P, Any]:
    """The gradient of ``f`` (one value out) with respect to argument ``argnums`` (a tuple of
    them: a tuple of gradients): ``grad(f)(x)`` is ``df/dx`` at ``x``, of ``x``'s shape."""

    def gradient(*args: P.args, **kwargs: P.kwargs) -> Value | tuple[Value, ...]:
        _, grads = _value_and_grads(f, argnums, args, dict(kwargs), "grad")
        return grads[0] if isinstance(argnums, int) else grads

    return gradient


@overload
def value_and_grad(
    f: Callable[[Variable], Variable], argnums: int = 0
) -> Callable[[Value], tuple[Array, Array]]: ...
@overload
def value_and_grad(
    f: Callable[[Variable, Variable], Variable], argnums: int = 0
) -> Callable[[Value, Value], tuple[Array, Array]]: ...
@overload
def value_and_grad(
    f: Callable[P, Variable], argnums: int = 0
) -> Callable[P, tuple[Array, Array]]: ...
@overload
def value_and_grad(
    f: Callable[P, Variable], argnums: tuple[int, ...]
) -> Callable[P, tuple[Array, tuple[Array, ...]]]: ...
def value_and_grad(f: Callable[P, Variable], argnums: Argnums = 0) -> Callable[P, Any]:
    """``f``'s value and ``grad(f, argnums)``, from one run."""

    def both(*args: P.args, **kwargs: P.kwargs) -> tuple[Value, Value | tuple[Value, ...]]:
        value, grads = _value_and_grads(f, argnums, args, dict(kwargs), "value_and_grad")
        return value, grads[0] if isinstance(argnums, int) else grads

    return both


@overload
def vjp(
    f: Callable[..., Variable], *primals: Value
) -> tuple[Array, Callable[[Value], tuple[Array, ...]]]: ...
@overload
def vjp(
    f: Callable[..., tuple[Variable, ...]], *primals: Value
) -> tuple[tuple[Array, ...], Callable[[Sequence[Value]], tuple[Array, ...]]]: ...
def vjp(f: Callable[..., Any], *primals: Value) -> tuple[Any, Callable[[Any], tuple[Array, ...]]]:
    """``f(*primals)`` and its vector-Jacobian product function: ``vjp_fn(u)`` gives ``uᵀ J``
    for each primal (a tuple, as ``torch.func.vjp``), ``u`` of the output's shape. ``vjp_fn``
    may be called again with another ``u``. For ``f`` returning a tuple of Variables, the
    outputs come back as a tuple and ``vjp_fn`` takes a tuple of cotangents, one per output."""
    with _level() as nested:
        xs = [_primal(p, nested, "vjp") for p in primals]
        token = ENABLE_BACKPROP.set(True)
        try:
            ys, many = _outputs(f(*xs), "vjp")
        finally:
            ENABLE_BACKPROP.reset(token)

    def vjp_fn(cotangent: Any) -> tuple[Array, ...]:
        given = cotangent if many else (cotangent,)
        if not isinstance(given, (tuple, list)) or len(given) != len(ys):
            raise ValueError(
                f"vjp: the function returned {len(ys)} outputs; give vjp_fn a tuple of "
                f"{len(ys)} cotangents, one per output, got {type(cotangent).__name__}"
            )
        root, seed = _root(ys, given)
        found = gradients(root, xs, seed, create_graph=nested)
        return tuple([_out(g, x, nested) for g, x in zip(found, xs, strict=True)])  # type: ignore[misc]  # as in grad

    outs = tuple([y if nested else np.array(y._data) for y in ys])
    return (outs if many else outs[0]), vjp_fn


@overload
def jvp(
    f: Callable[..., Variable], primals: Sequence[Value], tangents: Sequence[Value]
) -> tuple[Array, Array]: ...
@overload
def jvp(
    f: Callable[..., tuple[Variable, ...]], primals: Sequence[Value], tangents: Sequence[Value]
) -> tuple[tuple[Array, ...], tuple[Array, ...]]: ...
def jvp(
    f: Callable[..., Any], primals: Sequence[Value], tangents: Sequence[Value]
) -> tuple[Any, Any]:
    """``f(*primals)`` and the Jacobian-vector product ``J @ tangents`` (forward mode: the
    tangents are carried beside the values in one run, recording no graph at the top
    level). ``primals`` and ``tangents`` are tuples of matching shapes. For ``f`` returning a
    tuple of Variables, both results are tuples, one entry per output."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "jvp: primals and tangents are tuples (one entry per argument of f), got "
            f"{type(primals).__name__} and {type(tangents).__name__}: write jvp(f, (x,), (v,))"
        )
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent per primal"
        )
    with _level() as nested, dual_pass() as dual:
        xs = [_primal(p, nested, "jvp") for p in primals]
        for x, t in zip(xs, tangents, strict=True):
            if isinstance(t, Variable):
                dual.seed(x, t if nested else t._data)
            else:
                dual.seed(x, np.asarray(t, dtype=x._data.dtype))
        token = ENABLE_BACKPROP.set(nested and ENABLE_BACKPROP.get())
        try:
            ys, many = _outputs(f(*xs), "jvp")
        finally:
            ENABLE_BACKPROP.reset(token)
        found = [dual.tangent(y) for y in ys]
    outs, ts = [], []
    for y, t_out in zip(ys, found, strict=True):
        outs.append(y if nested else np.array(y._data))
        if t_out is None:
            ts.append(_out(None, y, nested))
        elif nested:
            ts.append(
                t_out if isinstance(t_out, Variable) else Variable(t_out, requires_grad=False)
            )
        else:
            ts.append(np.array(t_out._data if isinstance(t_out, Variable) else t_out))
    return (tuple(outs), tuple(ts)) if many else (outs[0], ts[0])


class Model(Protocol):
    """What ``functional_call`` needs of a model: ``dezero_ext_nn``'s ``Layer`` and ``Model``
    have it (``namedparams`` gives each parameter's path, ``"l0/W"``)."""

    def namedparams(self) -> Iterator[tuple[str, Variable]]: ...

    def __call__(self, *inputs: Operand) -> Variable: ...


def functional_call(model: Model, params: Mapping[str, Value], *args: Operand) -> Variable:
    """``model(*args)`` with the parameters named in ``params`` (by their ``namedparams``
    paths) replaced by the values given, as ``torch.func.functional_call``: a model's
    parameters become an explicit argument of a function the transforms differentiate::

        def loss(W: Variable) -> Variable:
            return (functional_call(model, {"l0/W": W}, x) ** 2).sum()

        grad(loss)(model.l0.W.data)

    The model's own parameters are put back afterwards (and their ``grad`` left alone)."""
    known = dict(model.namedparams())
    for path in params:
        if path not in known:
            raise KeyError(
                f"functional_call: the model has no parameter {path!r}; its parameters are "
                f"{', '.join(known) or 'none (call it once to build lazy ones)'}"
            )
    swapped: list[tuple[object, str, object]] = []
    try:
        for path, value in params.items():
            owner: object = model
            *layers, name = path.split("/")
            for layer in layers:
                owner = getattr(owner, layer)
            swapped.append((owner, name, getattr(owner, name)))
            replacement = value if isinstance(value, Variable) else Variable(np.asarray(value))
            object.__setattr__(owner, name, replacement)  # past Layer's bookkeeping: restored
        return model(*args)
    finally:
        for owner, name, original in reversed(swapped):
            object.__setattr__(owner, name, original)
