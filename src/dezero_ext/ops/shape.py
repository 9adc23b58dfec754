"""Built-in ops: shapes (``reshape``, ``transpose``, ``broadcast_to``, ``sum_to``,
``expand_dims``, ``flatten``) and indexing (``get_item``, and its gradient ``scatter_add``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np

from dezero_ext.core.backend import BACKENDS
from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Index, Operand, Variable
from dezero_ext.opdef import Case, Domain, Draw, ErrorInput, OpSet
from dezero_ext.ops import _kernels
from dezero_ext.ops._kernels import take
from dezero_ext.ops._util import (
    _is_int,
    broadcast_array,
    check_int,
    given,
    normalize_axis,
    reshape_array,
    sum_to_shape,
    transpose_array,
)
from dezero_ext.ops.tangents import linear_jvp, linear_jvp_array

ops = OpSet()

_ANY = Domain(-3.0, 3.0)


def _shape_arg(shape: object, op: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    if isinstance(shape, Sequence) and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape
    ):
        return tuple(int(s) for s in shape)
    raise TypeError(f"{op}: shape must be an int or a sequence of ints, got {given(shape)}")


def _sample_reshape(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=3)
    size = math.prod(shape)
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = draw.choice(divisors)
    target = draw.choice([(size,), (first, size // first), (first, -1), (-1,)])
    return Case((draw.array(shape),), {"shape": target})


@ops.declare(
    "reshape",
    backends=BACKENDS,
    domains=_ANY,
    sample=_sample_reshape,
    order=2,
    description="x in a new shape of as many elements (one -1 allowed)",
    error_inputs=(
        ErrorInput(
            (np.ones((2, 3)),), ValueError, r"cannot reshape .* into \(4,\)", {"shape": (4,)}
        ),
    ),
)
class Reshape(Function):
    saves_inputs = saves_output = False
    in_shape: tuple[int, ...]

    def __init__(self, shape: Sequence[int] | int) -> None:
        self.shape = _shape_arg(shape, "reshape")

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        shape = self.shape
        known = [s for s in shape if s != -1]
        if (
            len(known) < len(shape) - 1
            or any(s < -1 for s in shape)
            or (len(known) == len(shape) and math.prod(shape) != x.size)
            or (len(known) < len(shape) and (math.prod(known) == 0 or x.size % math.prod(known)))
        ):
            raise ValueError(
                f"reshape: cannot reshape an input of shape {x.shape} ({x.size} elements) into "
                f"{shape}; the new shape must hold the same number of elements (one -1 allowed)"
            )
        return reshape_array(x, shape)

    def backward(self, gy: Variable) -> Variable:
        return reshape(gy, self.in_shape)

    def backward_array(self, gy: Array) -> Array:
        return reshape_array(gy, self.in_shape)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def reshape(x: Operand, shape: Sequence[int] | int) -> Variable:
    """``x`` with a new shape holding the same elements (one ``-1`` allowed)."""
    if isinstance(x, Variable) and x.shape == _shape_arg(shape, "reshape"):
        return x
    return Reshape(shape)(x)


def _sample_transpose(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=4)
    order = list(range(len(shape)))
    axes: list[int] = []
    while order:
        axis = order.pop(draw.integer(0, len(order) - 1))
        axes.append(axis - len(shape) if draw.boolean() else axis)  # negative axes too
    return Case((draw.array(shape),), {"axes": draw.choice([tuple(axes), None])})


@ops.declare(
    "transpose",
    backends=BACKENDS,
    domains=_ANY,
    sample=_sample_transpose,
    order=2,
    description="axes permuted (None reverses them)",
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"not a permutation", {"axes": (0, 0)}),
    ),
)
class Transpose(Function):
    saves_inputs = saves_output = False

    def __init__(self, axes: Sequence[int] | None = None) -> None:
        if axes is None:
            self.axes: tuple[int, ...] | None = None
        elif isinstance(axes, (tuple, list)) and all(_is_int(a) for a in axes):
            self.axes = tuple(int(a) for a in axes)
        else:
            raise TypeError(
                f"transpose: axes must be None or a tuple of ints (a permutation of the "
                f"input's axes), got {given(axes)}"
            )

    def forward(self, x: Array) -> Array:
        axes = self.axes
        if axes is not None and (
            any(not -x.ndim <= a < x.ndim for a in axes)
            or sorted(a % x.ndim for a in axes) != list(range(x.ndim))
        ):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of an input "
                f"of shape {x.shape}"
            )
        return transpose_array(x, axes)

    def _inverse(self) -> tuple[int, ...] | None:
        axes = self.axes
        if axes is None:
            return None
        ndim = len(axes)
        return tuple(int(i) for i in np.argsort([a % ndim for a in axes]))

    def backward(self, gy: Variable) -> Variable:
        return transpose(gy, self._inverse())

    def backward_array(self, gy: Array) -> Array:
        return transpose_array(gy, self._inverse())

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def transpose(x: Operand, axes: Sequence[int] | None = None) -> Variable:
    """Permute the axes (reverse them when ``axes`` is None)."""
    return Transpose(axes)(x)


def _sample_broadcast(draw: Draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A small shape and a larger shape it broadcasts to."""
    big = draw.shape(min_dims=1, max_dims=3)
    drop = draw.integer(0, len(big))
    small = tuple(1 if draw.boolean() else n for n in big[drop:])
    return small, big


def _sample_broadcast_to(draw: Draw) -> Case:
    small, big = _sample_broadcast(draw)
    return Case((draw.array(small),), {"shape": big})


@ops.declare(
    "broadcast_to",
    backends=BACKENDS,
    domains=_ANY,
    sample=_sample_broadcast_to,
    order=2,
    description="x broadcast to shape, as np.broadcast_to",
    error_inputs=(
        ErrorInput((np.ones(3),), ValueError, r"cannot be broadcast to \(4,\)", {"shape": (4,)}),
    ),
)
class BroadcastTo(Function):
    saves_inputs = saves_output = False

    def __init__(self, shape: Sequence[int] | int) -> None:
        self.shape = _shape_arg(shape, "broadcast_to")

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        try:
            return broadcast_array(x, self.shape)
        except ValueError:
            raise ValueError(
                f"broadcast_to: an input of shape {x.shape} cannot be broadcast to {self.shape}"
            ) from None

    def backward(self, gy: Variable) -> Variable:
        return sum_to(gy, self.in_shape)

    def backward_array(self, gy: Array) -> Array:
        return sum_to_shape(gy, self.in_shape)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def broadcast_to(x: Operand, shape: Sequence[int] | int) -> Variable:
    """``x`` broadcast to ``shape``; the gradient is summed back."""
    if isinstance(x, Variable) and x.shape == _shape_arg(shape, "broadcast_to"):
        return x
    return BroadcastTo(shape)(x)


def _sample_sum_to(draw: Draw) -> Case:
    small, big = _sample_broadcast(draw)
    return Case((draw.array(big),), {"shape": small})


@ops.declare(
    "sum_to",
    backends=BACKENDS,
    domains=_ANY,
    sample=_sample_sum_to,
    order=2,
    description="x summed down to shape (which broadcasts to x's shape)",
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"cannot be summed to \(4,\)", {"shape": (4,)}),
    ),
)
class SumTo(Function):
    saves_inputs = saves_output = False

    def __init__(self, shape: Sequence[int] | int) -> None:
        self.shape = _shape_arg(shape, "sum_to")

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        shape = self.shape
        try:
            ok = np.broadcast_shapes(shape, x.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"sum_to: an input of shape {x.shape} cannot be summed to {shape}; the target "
                "must broadcast to the input's shape"
            )
        return sum_to_shape(x, shape)

    def backward(self, gy: Variable) -> Variable:
        return broadcast_to(gy, self.in_shape)

    def backward_array(self, gy: Array) -> Array:
        return broadcast_array(gy, self.in_shape)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def sum_to(x: Operand, shape: Sequence[int] | int) -> Variable:
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting)."""
    if isinstance(x, Variable) and x.shape == _shape_arg(shape, "sum_to"):
        return x  # (``x.shape``: reading ``x.data`` would freeze an op output's array)
    return SumTo(shape)(x)


def unbroadcast(gx: Variable, x: Variable) -> Variable:
    """``gx`` summed back to ``x``'s shape: the gradient of an input a binary op broadcast."""
    return gx if gx.shape == x.shape else sum_to(gx, x.shape)


def _sample_expand_dims(draw: Draw) -> Case:
    shape = draw.shape(max_dims=3)
    return Case((draw.array(shape),), {"axis": draw.integer(-len(shape) - 1, len(shape))})


@ops.declare(
    "expand_dims",
    backends=BACKENDS,
    domains=_ANY,
    sample=_sample_expand_dims,
    order=2,
    description="a new axis of length 1 at axis",
)
class ExpandDims(Reshape):
    def __init__(self, axis: int) -> None:
        self.axis = check_int(axis, "expand_dims", "axis")
        self.shape = ()

    def forward(self, x: Array) -> Array:
        (axis,) = normalize_axis(self.axis, x.ndim + 1, "expand_dims")
        self.in_shape = x.shape
        self.shape = (*x.shape[:axis], 1, *x.shape[axis:])
        return reshape_array(x, self.shape)


def expand_dims(x: Operand, axis: int) -> Variable:
    """Insert an axis of length 1 at ``axis``."""
    return ExpandDims(axis)(x)


def _sample_flatten(draw: Draw) -> Case:
    return Case((draw.array(draw.shape(min_dims=2, max_dims=4)),))


@ops.declare(
    "flatten",
    backends=BACKENDS,
    domains=_ANY,
    sample=_sample_flatten,
    order=2,
    description="(n, ...) -> (n, m), DeZero's flatten",
)
class Flatten(Reshape):
    """``(n, ...) -> (n, prod(...))``, DeZero's flatten (a 0-d or 1-d input is left as is)."""

    def __init__(self) -> None:
        self.shape = ()

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        self.shape = x.shape if x.ndim < 2 else (x.shape[0], math.prod(x.shape[1:]))
        return reshape_array(x, self.shape)


def flatten(x: Operand) -> Variable:
    """Keep the first axis and flatten the rest: ``(n, ...) -> (n, m)``."""
    return Flatten()(x)


_INDEX_FORM = "an int, a slice, ..., None, an int or bool array (or list), or a tuple of these"


def _index_part(part: object) -> object:
    """One part of an index, checked for its type (its range is NumPy's to check)."""
    if isinstance(part, Variable):
        raise TypeError("get_item: index with arrays or ints, not with a Variable (use x.data)")
    original = part
    if isinstance(part, list):
        try:
            part = np.asarray(part)
        except ValueError:
            raise TypeError(f"get_item: index must be {_INDEX_FORM}, got {given(part)}") from None
    if isinstance(part, np.ndarray):
        if part.dtype.kind not in "iub" and part.size:
            raise TypeError(
                f"get_item: an index array must hold ints or bools, got {given(original)} "
                f"(dtype {part.dtype})"
            )
        return part.astype(np.intp) if part.dtype.kind not in "iub" else part
    if isinstance(part, slice):
        ends = (part.start, part.stop, part.step)
        if not all(e is None or _is_int(e) for e in ends):
            raise TypeError(f"get_item: slice bounds must be ints or None, got {given(part)}")
        return part
    if part is None or part is Ellipsis or isinstance(part, (bool, np.bool_)):
        return part
    if isinstance(part, (int, np.integer)):
        return part
    raise TypeError(f"get_item: index must be {_INDEX_FORM}, got {given(part)}")


def _normalize_index(index: object) -> Index:
    if isinstance(index, tuple):
        # A sequence inside the tuple indexes one axis with an array, as NumPy reads it: a
        # tuple there too (x[(0, 0),]), which must not pass for basic indexing.
        parts = (list(p) if isinstance(p, tuple) else p for p in index)
        return cast(Index, tuple(_index_part(p) for p in parts))
    return cast(Index, _index_part(index))


def _sample_get_item(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=3, min_side=2)
    n, last = shape[0], shape[-1]
    kinds = ["int", "slice", "reverse", "array", "array2d", "mask", "tuple", "ellipsis", "newaxis"]
    if len(shape) > 1:
        kinds.append("arrays")
    kind = draw.choice(kinds)

    def ints(size: int, bound: int) -> list[int]:  # may repeat: the gradient adds repeats up
        return [draw.integer(-bound, bound - 1) for _ in range(size)]

    index: Index
    if kind == "int":
        index = draw.integer(-n, n - 1)
    elif kind == "slice":
        start, stop = draw.integer(0, n - 1), draw.integer(1, n)
        index = slice(start, max(start + 1, stop), draw.choice([1, 2]))
    elif kind == "reverse":
        index = slice(None, None, draw.choice([-1, -2]))
    elif kind == "array":
        index = np.array(ints(draw.integer(1, 5), n))
    elif kind == "array2d":
        index = np.array(ints(4, n)).reshape(2, 2)
    elif kind == "mask":  # at least one element selected
        mask = np.array([draw.boolean() for _ in range(n)])
        mask[draw.integer(0, n - 1)] = True
        index = mask
    elif kind == "arrays":  # two index arrays broadcast together, with repeated pairs
        size = draw.integer(1, 4)
        index = (np.array(ints(size, n)), np.array(ints(size, shape[1])))
    elif kind == "tuple":
        index = (slice(None), draw.integer(0, shape[1] - 1)) if len(shape) > 1 else (0,)
    elif kind == "ellipsis":
        index = (Ellipsis, draw.integer(0, last - 1))
    else:
        index = (None, slice(None), Ellipsis, None)
    return Case((draw.array(shape),), {"index": index})


@ops.declare(
    "get_item",
    domains=_ANY,
    sample=_sample_get_item,
    order=2,
    description="x[index]: ints, slices, None, ..., integer and boolean arrays",
)
class GetItem(Function):
    """``x[index]`` with NumPy's basic and integer-array indexing."""

    saves_inputs = saves_output = False

    def __init__(self, index: Index) -> None:
        self.index = _normalize_index(index)

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        try:
            return take(x, self.index)
        except IndexError as exc:
            raise IndexError(f"get_item: index {self.index!r} on shape {x.shape}: {exc}") from None

    def backward(self, gy: Variable) -> Variable:
        return ScatterAdd(self.index, self.in_shape)(gy)

    def backward_array(self, gy: Array) -> Array:
        return scatter_add_array(gy, self.index, self.in_shape)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def get_item(x: Operand, index: Index) -> Variable:
    """``x[index]``: ints, slices, ``None``, ``...`` and integer arrays (repeats add up in the
    gradient)."""
    return GetItem(index)(x)


def scatter_add_array(gy: Array, index: Index, shape: tuple[int, ...]) -> Array:
    """Array level ``scatter_add``: zeros of ``shape`` with ``gy`` added at ``index`` (in
    ``gy``'s library: ``ops/_kernels.py``)."""
    return _kernels.scatter_add(gy, index, shape)


class ScatterAdd(Function):
    """Scatter-add ``gy`` into zeros of ``in_shape`` at ``index`` (repeated indices add up):
    the gradient of ``x[index]``, and of any gather (an embedding lookup)."""

    saves_inputs = saves_output = False

    def __init__(self, index: Index, in_shape: tuple[int, ...]) -> None:
        self.index = index
        self.in_shape = in_shape

    def forward(self, gy: Array) -> Array:
        return scatter_add_array(gy, self.index, self.in_shape)

    def backward(self, ggx: Variable) -> Variable:
        return get_item(ggx, self.index)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array

    def backward_array(self, ggx: Array) -> Array:
        return take(ggx, self.index)


def scatter_add(gy: Operand, index: Index, shape: Sequence[int]) -> Variable:
    """Zeros of ``shape`` with ``gy`` added at ``index``, repeated indices adding up: the
    gradient of a gather such as ``x[index]`` (``np.add.at``, differentiable)."""
    return ScatterAdd(_normalize_index(index), tuple(shape))(gy)
