"""Array helpers shared by the built-in ops."""

from __future__ import annotations

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
    """``axis`` as a sorted tuple of non-negative axes of an ``ndim``-d array (None: all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out: list[int] = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool) or not -ndim <= a < max(ndim, 1):
            raise ValueError(
                f"{op}: axis {a!r} is out of range for a {ndim}-d input "
                f"(valid: {-ndim} to {ndim - 1})"
            )
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))
