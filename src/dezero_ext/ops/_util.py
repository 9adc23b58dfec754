"""Array-level helpers for op authors; public through ``dezero_ext.ops.helpers``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dezero_ext.core.variable import Array

Axis = int | tuple[int, ...] | None
"""What a reduction's ``axis`` parameter accepts: an int, a tuple of ints, or None (all)."""


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


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def normalize_axis(axis: Axis, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes of an ``ndim``-d array (None: all).

    NumPy integers are accepted as ints. A 0-d array has no axes, but NumPy lets it be
    reduced over axis 0 or -1 (a no-op): those give ``()``. A value that is not an axis
    raises ``TypeError``, an axis out of range or repeated ``ValueError``, naming ``op``.
    """
    if axis is None:
        return tuple(range(ndim))
    if _is_int(axis):
        parts: Sequence[object] = (axis,)
    elif isinstance(axis, (tuple, list)):
        parts = axis
    else:
        raise TypeError(
            f"{op}: axis must be an int, a tuple of ints or None, got "
            f"{type(axis).__name__} {axis!r}"
        )
    bound = max(ndim, 1)
    out: list[int] = []
    for a in parts:
        if not _is_int(a):
            raise TypeError(
                f"{op}: axis must be an int, a tuple of ints or None, got {axis!r} "
                f"({type(a).__name__} {a!r} is not an int)"
            )
        value = int(a)  # type: ignore[call-overload]  # an int or NumPy integer, checked above
        if not -bound <= value < bound:
            raise ValueError(
                f"{op}: axis {value} is out of range for a {ndim}-d input "
                f"(valid: {-ndim} to {ndim - 1})"
            )
        out.append(value % bound)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def check_axis(axis: int, shape: tuple[int, ...], op: str) -> int:
    """One ``axis`` of an array of ``shape`` as a non-negative int, or an error naming ``op``,
    the axis and the shape (for ops such as ``softmax`` that work along a single axis)."""
    ndim = len(shape)
    if not _is_int(axis):
        raise TypeError(f"{op}: axis must be an int, got {type(axis).__name__} {axis!r}")
    if not -ndim <= axis < ndim:
        valid = f"valid: {-ndim} to {ndim - 1}" if ndim else "a 0-d input has no axis"
        raise ValueError(
            f"{op}: axis {axis} is out of range for an input of shape {shape} ({valid})"
        )
    return int(axis) % ndim


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a reduction over ``axes`` gives with ``keepdims=True``: those axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def broadcast_error(op: str, *arrays: Array) -> ValueError:
    """The error for inputs whose shapes do not broadcast: raise it from a ``forward``."""
    shapes = ", ".join(str(a.shape) for a in arrays[:-1]) + f" and {arrays[-1].shape}"
    return ValueError(
        f"{op}: shapes {shapes} do not broadcast (trailing dimensions must be equal or 1)"
    )
