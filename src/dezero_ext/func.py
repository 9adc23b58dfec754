"""Functional transforms, as ``torch.func`` and JAX have them: ``grad``, ``value_and_grad``,
``vjp``, ``jvp`` (forward mode), ``jacobian`` and ``hessian``.

Each takes a function of Variables returning a Variable (``f(x) = (x ** 2).sum()``) and gives
a function of arrays (or Variables) returning arrays: the caller gets no graph, and no
Variable's ``grad`` changes (a model's parameters that ``f`` reads keep theirs). Transforms
nest: inside another transform, a transformed function returns Variables that stand in for
the arrays (as JAX's tracers do) and stay differentiable, so ``grad(grad(f))``,
``jvp(grad(f), ...)`` (forward-over-reverse, what ``hessian(mode="fwd")`` does) and
``grad(lambda x: jvp(f, (x,), (v,))[1].sum())`` work. The types say arrays; inside a transform
``dezero_ext.as_variable(value)`` (which returns a Variable as it is) types such a value as
the Variable it is.

Where ``torch.func`` and JAX differ we follow ``torch.func``: ``vjp``'s function returns a
tuple of gradients (one per primal), ``jvp`` takes tuples of primals and tangents, and a
Jacobian has the output's dimensions first, then the input's. Where we differ from both:
``hessian`` is reverse over reverse by default (``mode="fwd"``: forward over reverse, theirs),
because without ``vmap`` forward over reverse re-runs ``f`` per input element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, Literal, ParamSpec, Protocol, TypeAlias, cast, overload

import numpy as np

from dezero_ext.core.config import ENABLE_BACKPROP
from dezero_ext.core.engine import gradients
from dezero_ext.core.forward import dual_pass
from dezero_ext.core.variable import Array, Operand, Variable

__all__ = [
    "Model",
    "functional_call",
    "grad",
    "hessian",
    "jacobian",
    "jvp",
    "value_and_grad",
    "vjp",
]

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


def vjp(
    f: Callable[..., Variable], *primals: Value
) -> tuple[Array, Callable[[Value], tuple[Array, ...]]]:
    """``f(*primals)`` and its vector-Jacobian product function: ``vjp_fn(u)`` gives ``uᵀ J``
    for each primal (a tuple, as ``torch.func.vjp``), ``u`` of the output's shape. ``vjp_fn``
    may be called again with another ``u``."""
    with _level() as nested:
        xs = [_primal(p, nested, "vjp") for p in primals]
        token = ENABLE_BACKPROP.set(True)
        try:
            y = _output(f(*xs), "vjp")
        finally:
            ENABLE_BACKPROP.reset(token)

    def vjp_fn(cotangent: Value) -> tuple[Array, ...]:
        seed = cotangent if isinstance(cotangent, Variable) else Variable(np.asarray(cotangent))
        found = gradients(y, xs, seed, create_graph=nested)
        return tuple([_out(g, x, nested) for g, x in zip(found, xs, strict=True)])  # type: ignore[misc]  # as in grad

    return (y if nested else np.array(y._data)), vjp_fn  # type: ignore[return-value]  # as in grad


def jvp(
    f: Callable[..., Variable], primals: Sequence[Value], tangents: Sequence[Value]
) -> tuple[Array, Array]:
    """``f(*primals)`` and the Jacobian-vector product ``J @ tangents`` (forward mode: the
    tangents are carried beside the values in one run, recording no graph at the top
    level). ``primals`` and ``tangents`` are tuples of matching shapes."""
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
            y = _output(f(*xs), "jvp")
        finally:
            ENABLE_BACKPROP.reset(token)
        t_out = dual.tangent(y)
    if t_out is None:
        return _out(y, y, nested), _out(None, y, nested)  # type: ignore[return-value]  # as in grad
    if nested:
        tangent = t_out if isinstance(t_out, Variable) else Variable(t_out, requires_grad=False)
        return y, tangent  # type: ignore[return-value]  # as in grad
    data = t_out._data if isinstance(t_out, Variable) else t_out
    return np.array(y._data), np.array(data)


def jacobian(
    f: Callable[..., Variable], argnums: int = 0, mode: Literal["rev", "fwd"] = "rev"
) -> Callable[..., Array]:
    """The Jacobian of ``f`` with respect to argument ``argnums``, of shape
    ``output.shape + input.shape``: by reverse mode (``"rev"``, one ``vjp`` per output
    element: ``torch.func.jacrev``) or forward mode (``"fwd"``, one ``jvp`` per input element:
    ``jacfwd``)."""
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")

    def jac(*args: Value) -> Array:
        (i,) = _indices(argnums, len(args), "jacobian")
        x = args[i]

        def at(z: Value) -> Variable:
            return f(*args[:i], z, *args[i + 1 :])

        return _jacobian(at, x, mode, nested=_DEPTH.get() > 0)

    return jac


def _jacobian(f: Callable[[Value], Variable], x: Value, mode: str, nested: bool) -> Array:
    data = x._data if isinstance(x, Variable) else np.asarray(x, dtype=np.float64)
    rows: list[Value] = []
    if mode == "rev":
        y, pull = vjp(f, x)
        out = _data_of(y)  # inside a transform, a Variable stands in for the array
        for k in range(out.size):
            basis = np.zeros(out.shape, dtype=data.dtype)
            basis.flat[k] = 1
            rows.append(pull(basis)[0])
        return _stack(rows, out.shape + data.shape, nested)
    y_shape: tuple[int, ...] = ()
    for k in range(data.size):
        basis = np.zeros(data.shape, dtype=data.dtype)
        basis.flat[k] = 1
        y, column = jvp(f, (x,), (basis,))
        y_shape = _data_of(y).shape
        rows.append(column)
    # columns: stacked along a first axis of the input's size, moved behind the output's
    stacked = _stack(rows, (data.size, *y_shape), nested)
    order = (*range(1, len(y_shape) + 1), 0)
    moved = stacked.transpose(order) if order != (0,) else stacked
    return moved.reshape(y_shape + data.shape)


def _data_of(value: Value) -> Array:
    return value._data if isinstance(value, Variable) else np.asarray(value)


def _stack(parts: Sequence[Value], shape: tuple[int, ...], nested: bool) -> Array:
    """Parts (arrays, or Variables inside a transform) stacked into ``shape``."""
    if not nested or not any(isinstance(p, Variable) for p in parts):
        flat = [np.asarray(p._data if isinstance(p, Variable) else p).ravel() for p in parts]
        out = np.concatenate(flat) if flat else np.zeros(0)
        return out.reshape(shape)
    total: Variable | None = None
    size = int(np.prod(shape))
    step = size // max(len(parts), 1)
    for k, part in enumerate(parts):
        placed = np.zeros((len(parts), step))
        placed[k] = 1.0  # a selector that puts part k in row k: sums of Variables stay linear
        piece = part if isinstance(part, Variable) else Variable(part, requires_grad=False)
        term = piece.reshape(1, step) * placed
        total = term if total is None else total + term
    assert total is not None
    return total.reshape(shape)  # type: ignore[return-value]  # a Variable stands in for the array


def hessian(
    f: Callable[..., Variable], argnums: int = 0, mode: Literal["rev", "fwd"] = "rev"
) -> Callable[..., Array]:
    """The Hessian of ``f`` (one value out) with respect to argument ``argnums``, of shape
    ``input.shape + input.shape``: the Jacobian of ``grad(f)``.

    ``mode="rev"`` (the default) is reverse over reverse: the gradient's graph is recorded
    once and walked back once per input element, on arrays (the first-order fast path).
    ``mode="fwd"`` is forward over reverse (``jacobian(grad(f), mode="fwd")``, what
    ``torch.func.hessian`` does), which runs ``f`` and its backward again per input element:
    ``torch.func`` batches those runs with ``vmap``; an eager framework without it pays each,
    so reverse over reverse is the faster default here (W8 in benchmarks/). Both give the
    same matrix."""
    if mode not in ("rev", "fwd"):
        raise ValueError(f"hessian: mode must be 'rev' or 'fwd', got {mode!r}")
    # inside jacobian's vjp or jvp (a transform), grad(f) returns Variables
    gradient = cast(Callable[..., Variable], grad(f, argnums))
    return jacobian(gradient, argnums, mode=mode)


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
