"""``jacobian`` (by reverse or forward mode) and ``hessian``, built on ``vjp``, ``jvp`` and
``grad``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, cast, overload

import numpy as np

from dezero_ext.core.variable import Array, Variable
from dezero_ext.func._transforms import _DEPTH, Value, _indices, grad, jvp, vjp

__all__ = ["hessian", "jacobian"]


@overload
def jacobian(
    f: Callable[..., Variable], argnums: int = 0, mode: Literal["rev", "fwd"] = "rev"
) -> Callable[..., Array]: ...
@overload
def jacobian(
    f: Callable[..., tuple[Variable, ...]], argnums: int = 0, mode: Literal["rev", "fwd"] = "rev"
) -> Callable[..., tuple[Array, ...]]: ...
def jacobian(
    f: Callable[..., Any], argnums: int = 0, mode: Literal["rev", "fwd"] = "rev"
) -> Callable[..., Any]:
    """The Jacobian of ``f`` with respect to argument ``argnums``, of shape
    ``output.shape + input.shape``: by reverse mode (``"rev"``, one ``vjp`` per output
    element: ``torch.func.jacrev``) or forward mode (``"fwd"``, one ``jvp`` per input element:
    ``jacfwd``). For ``f`` returning a tuple of Variables, a tuple of Jacobians, one per
    output."""
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")

    def jac(*args: Value) -> Array | tuple[Array, ...]:
        (i,) = _indices(argnums, len(args), "jacobian")
        x = args[i]

        def at(z: Value) -> Variable | tuple[Variable, ...]:
            return f(*args[:i], z, *args[i + 1 :])  # type: ignore[no-any-return]  # f's own

        return _jacobian(at, x, mode, nested=_DEPTH.get() > 0)

    return jac


def _jacobian(
    f: Callable[[Value], Variable | tuple[Variable, ...]], x: Value, mode: str, nested: bool
) -> Array | tuple[Array, ...]:
    data = x._data if isinstance(x, Variable) else np.asarray(x, dtype=np.float64)
    many = [False]  # whether f returns a tuple, seen at its first call

    def each(z: Variable) -> tuple[Variable, ...]:
        result = f(z)
        many[0] = isinstance(result, tuple)
        return result if isinstance(result, tuple) else (result,)

    jacobians: list[Array] = []
    if mode == "rev":
        ys, pull = vjp(each, x)
        outs = [_data_of(y) for y in ys]  # inside a transform, Variables stand in for arrays
        for j, out in enumerate(outs):
            rows: list[Value] = []
            for k in range(out.size):
                us = [np.zeros(o.shape, dtype=data.dtype) for o in outs]
                us[j].flat[k] = 1
                rows.append(pull(us)[0])
            jacobians.append(_stack(rows, out.shape + data.shape, nested))
        return tuple(jacobians) if many[0] else jacobians[0]
    columns: list[tuple[Value, ...]] = []
    shapes: list[tuple[int, ...]] = []
    for k in range(max(data.size, 1)):  # one run for an empty input: the outputs' shapes
        basis = np.zeros(data.shape, dtype=data.dtype)
        if k < data.size:
            basis.flat[k] = 1
        ys_k, ts = jvp(each, (x,), (basis,))
        shapes = [_data_of(y).shape for y in ys_k]
        if k < data.size:
            columns.append(ts)
    for j, y_shape in enumerate(shapes):
        # columns: stacked along a first axis of the input's size, moved behind the output's
        stacked = _stack([c[j] for c in columns], (data.size, *y_shape), nested)
        order = (*range(1, len(y_shape) + 1), 0)
        moved = stacked.transpose(order) if order != (0,) else stacked
        jacobians.append(moved.reshape(y_shape + data.shape))
    return tuple(jacobians) if many[0] else jacobians[0]


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
