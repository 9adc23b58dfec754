"""Array-level helpers for op authors; public through ``dezero_ext.ops.helpers``."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import SupportsIndex, cast

import numpy as np

from dezero_ext.core.backend import namespace_of
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
    if not isinstance(x, np.ndarray | np.generic):  # the Array API has no methods for these
        xp = namespace_of(x, op="sum_to")
        return xp.reshape(xp.sum(x, axis=axes, keepdims=True), shape)  # an array of x's library
    summed: Array = x.sum(axis=axes, keepdims=True)
    return summed.reshape(shape)


def _numpy(x: object) -> bool:
    return isinstance(x, np.ndarray | np.generic)


def reshape_array(x: Array, shape: tuple[int, ...]) -> Array:
    """``x.reshape(shape)`` in ``x``'s library (the Array API has ``reshape`` as a function)."""
    if _numpy(x):
        return x.reshape(shape)
    return namespace_of(x, op="reshape").reshape(x, shape)  # type: ignore[no-any-return]  # x's library


def broadcast_array(x: Array, shape: tuple[int, ...]) -> Array:
    """``np.broadcast_to(x, shape)`` in ``x``'s library."""
    if _numpy(x):
        return np.broadcast_to(x, shape)
    return namespace_of(x, op="broadcast_to").broadcast_to(x, shape)  # type: ignore[no-any-return]  # x's library


def transpose_array(x: Array, axes: tuple[int, ...] | None) -> Array:
    """``np.transpose(x, axes)`` in ``x``'s library (``permute_dims``; None reverses)."""
    if _numpy(x):
        return np.transpose(x, axes)
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    return namespace_of(x, op="transpose").permute_dims(x, axes)  # type: ignore[no-any-return]  # x's library


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def given(value: object) -> str:
    """How an error names a value it refuses: its type and (short) repr, ``str 'a'`` (an
    array: its dtype and shape)."""
    if isinstance(value, np.ndarray):
        return f"ndarray of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def check_int(value: object, op: str, name: str, *, low: int | None = None) -> int:
    """``value`` as an int (a NumPy integer too, not a bool), at least ``low``; otherwise a
    ``TypeError``/``ValueError`` naming ``op``, the parameter ``name`` and the value."""
    bound = f" >= {low}" if low is not None else ""
    if not _is_int(value):
        raise TypeError(f"{op}: {name} must be an int{bound}, got {given(value)}")
    number = operator.index(cast(SupportsIndex, value))
    if low is not None and number < low:
        raise ValueError(f"{op}: {name} must be an int{bound}, got {number}")
    return number


def check_bool(value: object, op: str, name: str) -> bool:
    """``value`` as a bool (``True``/``False`` or a NumPy bool), or a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool (True or False), got {given(value)}")
    return bool(value)


def check_number(
    value: object,
    op: str,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    what: str | None = None,
) -> float:
    """``value`` (a Python or NumPy real number, not a bool) as a finite float in the range
    given (``[low, high]``, ends excluded with ``open_low``/``open_high``); otherwise a
    ``TypeError``/``ValueError`` naming ``op``, the parameter, the value and ``what`` is
    accepted (default: the range)."""
    if what is None:
        what = "a finite number"
        if low is not None or high is not None:
            what += f" in {'(' if open_low else '['}{'-inf' if low is None else f'{low:g}'}, "
            what += f"{'inf' if high is None else f'{high:g}'}{')' if open_high else ']'}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{op}: {name} must be {what}, got {given(value)}")
    if isinstance(value, np.complexfloating):
        raise TypeError(f"{op}: {name} must be {what}, got {given(value)}")
    number = float(value)
    inside = np.isfinite(number)
    if low is not None:
        inside = inside and (number > low if open_low else number >= low)
    if high is not None:
        inside = inside and (number < high if open_high else number <= high)
    if not inside:
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return number


def check_ints(value: object, op: str, name: str, *, low: int | None = None) -> tuple[int, ...]:
    """A tuple or list of ints (NumPy integers too), each at least ``low``, as a tuple;
    otherwise an error naming ``op``, the parameter and the value."""
    bound = f" >= {low}" if low is not None else ""
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{op}: {name} must be a tuple of ints{bound}, got {given(value)}")
    numbers = tuple(int(v) for v in value)
    if low is not None and any(v < low for v in numbers):
        raise ValueError(f"{op}: {name} must be a tuple of ints{bound}, got {numbers}")
    return numbers


def check_axis_type(axis: object, op: str) -> Axis:
    """A reduction's ``axis`` checked for its type (an int, a tuple of ints, None), when the
    op is built; its range is checked against the input in ``forward``."""
    if axis is None or _is_int(axis):
        return axis  # type: ignore[return-value]  # an int or NumPy integer, checked above
    if isinstance(axis, (tuple, list)) and all(_is_int(a) for a in axis):
        return tuple(int(a) for a in axis)
    raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {given(axis)}")


def check_array(value: object, op: str, name: str, *, kinds: str = "f") -> Array:
    """A NumPy array whose dtype kind is one of ``kinds`` (``"f"`` floating, ``"iu"``
    integer, ``"b"`` bool); otherwise a ``TypeError`` naming ``op`` and the parameter."""
    names = {"f": "floating", "i": "integer", "u": "unsigned", "b": "bool"}
    wanted = " or ".join(dict.fromkeys(names[k] for k in kinds))
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds:
        what = given(value) if not isinstance(value, np.ndarray) else f"dtype {value.dtype}"
        raise TypeError(f"{op}: {name} must be a {wanted} numpy array, got {what}")
    return value


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
