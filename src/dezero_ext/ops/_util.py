"""Array helpers shared by the built-in ops."""

from __future__ import annotations

import numpy as np

from dezero_ext.core.variable import Array


def sum_to_shape(x: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``x`` down to ``shape``: the inverse of broadcasting ``shape`` up to ``x.shape``."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    summed: Array = x.sum(axis=axes, keepdims=True)
    return summed.reshape(shape)


def normalize_axis(axis: int | tuple[int, ...] | None, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes of an ``ndim``-d array (None: all).

    NumPy integers are accepted as ints. A 0-d array has no axes, but NumPy lets it be
    reduced over axis 0 or -1 (a no-op): those give ``()``.
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out: list[int] = []
    for a in axes:
        if isinstance(a, np.integer):
            a = int(a)
        if not isinstance(a, int) or isinstance(a, bool) or not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(
                f"{op}: axis {a!r} is out of range for a {ndim}-d input "
                f"(valid: {-ndim} to {ndim - 1})"
            )
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out)) if ndim else ()
