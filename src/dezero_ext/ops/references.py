"""Building blocks for an op's ``reference=`` (public, re-exported by ``ops.helpers``): the
forward computed without the NumPy call the op itself makes, so a wrong formula shows."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dezero_ext.core.variable import Array

__all__ = ["elementwise_reference", "fsum_along"]


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
