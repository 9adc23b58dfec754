"""Building blocks for an op's ``reference=`` (public, re-exported by ``ops.helpers``): the
forward computed without the NumPy call the op itself makes, so a wrong formula shows."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dezero_ext.core.variable import Array

__all__ = ["elementwise_reference", "fsum_along", "matmul_reference", "reduction_reference"]


def elementwise_reference(fn: Callable[..., float]) -> Callable[..., Array]:
    """A reference from a scalar function (``math.sin``, ``lambda x, y: x ** y``): applied
    element by element, inputs broadcast, in Python floats (float64)."""

    def reference(*inputs: Array) -> Array:
        arrays = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in inputs))
        shape = arrays[0].shape
        flat = [a.reshape(-1).tolist() for a in arrays]
        values = [_call(fn, args) for args in zip(*flat, strict=True)]
        return np.array(values, dtype=np.float64).reshape(shape)

    reference.__name__ = f"elementwise_reference({getattr(fn, '__name__', 'fn')})"
    return reference


def _call(fn: Callable[..., float], args: tuple[float, ...]) -> float:
    try:
        return float(fn(*args))
    except (ValueError, ZeroDivisionError):  # math's domain errors: NumPy's nan
        return math.nan
    except OverflowError:
        return math.inf


def fsum_along(x: Array, axis: int, fn: Callable[[list[float]], list[float]]) -> Array:
    """Apply ``fn`` (a list of Python floats to a list of floats, e.g. built on
    ``math.fsum``) to every 1-D slice of ``x`` along ``axis``: a loop, for references of
    ops along one axis (``softmax``, ``logsumexp``)."""
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]).tolist() if moved.size else []
    out = [fn(row) for row in rows]
    width = len(out[0]) if out else moved.shape[-1]
    result = np.array(out, dtype=np.float64).reshape((*moved.shape[:-1], width))
    return np.moveaxis(result, -1, axis)


def reduction_reference(fn: Callable[[list[float]], float]) -> Callable[..., Array]:
    """A reference for a reduction (``axis``: None, an int or a tuple; ``keepdims``) from a
    function of a list of Python floats (``math.fsum``): applied to each group reduced."""

    def reference(
        x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Array:
        a = np.asarray(x, dtype=np.float64)
        axes = tuple(range(a.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
        axes = tuple(sorted(ax % a.ndim for ax in axes)) if a.ndim else ()
        kept = [ax for ax in range(a.ndim) if ax not in axes]
        moved = np.transpose(a, (*kept, *axes))
        shape = tuple(a.shape[ax] for ax in kept)
        # the group size given, not -1: NumPy cannot infer it when there are no groups
        group = math.prod(a.shape[ax] for ax in axes)
        rows = moved.reshape(math.prod(shape), group).tolist()
        result = np.array([float(fn(row)) for row in rows], dtype=np.float64).reshape(shape)
        if keepdims:
            result = result.reshape(tuple(1 if ax in axes else n for ax, n in enumerate(a.shape)))
        return result

    reference.__name__ = f"reduction_reference({getattr(fn, '__name__', 'fn')})"
    return reference


def matmul_reference(a: Array, b: Array) -> Array:
    """``a @ b`` by its definition: 1-D operands promoted (and the added axis removed), batch
    dimensions broadcast, each entry an exact sum (``math.fsum``) of products."""
    a2 = np.asarray(a, dtype=np.float64)
    b2 = np.asarray(b, dtype=np.float64)
    a2 = a2[None, :] if a2.ndim == 1 else a2
    b2 = b2[:, None] if b2.ndim == 1 else b2
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    big_a = np.broadcast_to(a2, (*batch, *a2.shape[-2:]))
    big_b = np.broadcast_to(b2, (*batch, *b2.shape[-2:]))
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    y = np.zeros((*batch, n, m))
    for index in np.ndindex(*batch, n, m):
        *at, i, j = index
        row, col = big_a[(*at, i)], big_b[(*at, slice(None), j)]
        y[index] = math.fsum(float(row[t]) * float(col[t]) for t in range(k))
    if np.ndim(a) == 1:
        y = y[..., 0, :]
    if np.ndim(b) == 1:
        y = y[..., 0]
    return y
