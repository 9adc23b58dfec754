"""Built-in ops: the reductions ``sum``, ``mean``, ``max`` and ``min`` over any axes."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import ClassVar

import numpy as np
from numpy import ndarray

from dezero_ext.core.backend import BACKENDS, device_of, namespace_of
from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import Domain, ErrorInput, OpSet, ShapeRule
from dezero_ext.ops._util import (
    Axis,
    broadcast_array,
    check_axis_type,
    check_bool,
    kept_shape,
    normalize_axis,
    reshape_array,
)
from dezero_ext.ops.references import reduction_reference
from dezero_ext.ops.shape import broadcast_to, reshape
from dezero_ext.ops.tangents import linear_jvp, linear_jvp_array

ops = OpSet()

_REDUCTION = ShapeRule.REDUCTION
# distinct: elements drawn 0.05 apart, so no near-tie for the maximum (where the gradient
# jumps) falls within a finite-difference step (~1e-5); [-3, 3] holds 121 such values, room
# for the checker's largest inputs (4 x 4 x 4)
_DISTINCT = Domain(-3.0, 3.0, distinct=True, margin=0.05)


class _Reduction(Function):
    """A reduction over ``axis`` (an int, a tuple of ints or None for all) with ``keepdims``."""

    axes: tuple[int, ...]
    """The reduced axes, normalized by ``forward``."""
    in_shape: tuple[int, ...]
    """The input's shape, kept by ``forward``."""
    saves_inputs = saves_output = False

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = check_axis_type(axis, self._label())
        self.keepdims = check_bool(keepdims, self._label(), "keepdims")

    def _grad_to_input(self, gy: Variable) -> Variable:
        """``gy`` broadcast back to the input's shape."""
        shape = self.in_shape
        return broadcast_to(reshape(gy, kept_shape(shape, self.axes)), shape)

    def _array_to_input(self, gy: Array) -> Array:
        shape = self.in_shape
        return broadcast_array(reshape_array(gy, kept_shape(shape, self.axes)), shape)


@ops.declare(
    "sum",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    shape_rule=_REDUCTION,
    order=2,
    description="sum over axes",
    reference=reduction_reference(math.fsum),
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"axis 2 is out of range", {"axis": 2}),
    ),
)
class Sum(_Reduction):
    def forward(self, x: Array) -> Array:
        self.axes = normalize_axis(self.axis, x.ndim, self._label())
        self.in_shape = x.shape
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return namespace_of(x, op="sum").sum(x, axis=self.axes, keepdims=self.keepdims)  # type: ignore[no-any-return]  # x's library
        y: Array = x.sum(axis=self.axes, keepdims=self.keepdims)
        return y

    def backward(self, gy: Variable) -> Variable:
        return self._grad_to_input(gy)

    def backward_array(self, gy: Array) -> Array:
        return self._array_to_input(gy)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def sum(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Sum over ``axis`` (an int, a tuple of ints, or None for all axes)."""
    return Sum(axis, keepdims)(x)


@ops.declare(
    "mean",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    shape_rule=_REDUCTION,
    order=2,
    description="mean over axes",
    reference=reduction_reference(lambda row: math.fsum(row) / len(row)),
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"axis -3 is out of range", {"axis": -3}),
    ),
)
class Mean(_Reduction):
    def forward(self, x: Array) -> Array:
        self.axes = normalize_axis(self.axis, x.ndim, self._label())
        self.in_shape = x.shape
        self.count = math.prod(x.shape[a] for a in self.axes)
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            total = namespace_of(x, op="mean").sum(x, axis=self.axes, keepdims=self.keepdims)
            return total / float(self.count)  # type: ignore[no-any-return]  # x's library
        y: Array = x.sum(axis=self.axes, keepdims=self.keepdims)
        # an empty axis gives 0 / 0: nan with NumPy's RuntimeWarning, as np.mean does
        m: Array = y / y.dtype.type(self.count)
        return m

    def backward(self, gy: Variable) -> Variable:
        return self._grad_to_input(gy / self.count if self.count else gy)

    def backward_array(self, gy: Array) -> Array:
        return self._array_to_input(gy / self.count if self.count else gy)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def mean(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Arithmetic mean over ``axis`` (an int, a tuple of ints, or None for all axes)."""
    return Mean(axis, keepdims)(x)


def _empty_extreme(xp: ModuleType, x: Array, axis: tuple[int, ...], keepdims: bool) -> Array:
    """The max or min of an input with no element (its reduced axes are not empty, another
    is): an empty array of the kept shape, in ``x``'s library, dtype and device."""
    shape = tuple(1 if i in axis else n for i, n in enumerate(x.shape))
    empty: Array = xp.zeros(shape, dtype=x.dtype, device=device_of(x))
    return empty


class _Extreme(_Reduction):
    """``max``/``min`` over ``axis``. The gradient goes to the extreme element; when several
    elements tie for it, they share it evenly (``ties="split"``, as ``torch.amax``)."""

    select: ClassVar[Callable[..., Array]] = staticmethod(np.max)
    saves_inputs = saves_output = True

    def forward(self, x: Array) -> Array:
        axes = normalize_axis(self.axis, x.ndim, self._label())
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(
                f"{self._label()}: cannot reduce an input of shape {x.shape} over axis "
                f"{self.axis!r}: an empty axis has no {self._label()} (NumPy raises too)"
            )
        select = type(self).select
        if x.__class__ is not ndarray:  # another library's array: its max or min
            xp = namespace_of(x, op=self._label())
            if 0 in x.shape:  # nothing to reduce (Dask's max raises on size 0; NumPy's not)
                select = partial(_empty_extreme, xp)
            else:
                select = getattr(xp, select.__name__)
        kept: Array = select(x, axis=axes, keepdims=True)
        self.axes = axes
        self.in_shape = x.shape
        if self.keepdims:
            return kept
        return reshape_array(kept, tuple(n for i, n in enumerate(kept.shape) if i not in axes))

    def _weights(self) -> Array:
        # computed in backward, not in forward: nothing is kept under no_grad
        x = self.input_array()
        hit = x == reshape_array(self.output_array(), kept_shape(x.shape, self.axes))
        if not isinstance(x, ndarray | np.generic):  # another library's: bools cast first
            xp = namespace_of(x, op=self._label())
            hits = xp.astype(hit, x.dtype)
            return hits / xp.sum(hits, axis=self.axes, keepdims=True)  # x's library
        with np.errstate(invalid="ignore"):  # a nan slice has no hit: its gradient is nan
            weights: Array = (hit / np.sum(hit, axis=self.axes, keepdims=True)).astype(x.dtype)
        return weights

    def backward(self, gy: Variable) -> Variable:
        return self._grad_to_input(gy) * Variable(self._weights())

    def backward_array(self, gy: Array) -> Array:
        return self._array_to_input(gy) * self._weights()

    def jvp(self, tx: Variable) -> Variable:
        # the derivative in direction tx: tx at the extreme element (ties: their mean)
        return sum(tx * Variable(self._weights()), self.axes, self.keepdims)

    def jvp_array(self, tx: Array) -> Array:
        return np.asarray(np.sum(tx * self._weights(), axis=self.axes, keepdims=self.keepdims))


@ops.declare(
    "max",
    backends=BACKENDS,
    domains=_DISTINCT,
    shape_rule=_REDUCTION,
    reference=reduction_reference(builtins.max),
    order=2,
    ties="split",
    description="maximum over axes; tied maxima split the gradient",
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"axis 2 is out of range", {"axis": 2}),
    ),
)
class Max(_Extreme):
    select = staticmethod(np.max)


def max(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """The largest element over ``axis``; tied maxima share the gradient evenly."""
    return Max(axis, keepdims)(x)


@ops.declare(
    "min",
    backends=BACKENDS,
    domains=_DISTINCT,
    shape_rule=_REDUCTION,
    reference=reduction_reference(builtins.min),
    order=2,
    ties="split",
    description="minimum over axes; tied minima split the gradient",
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"repeats an axis", {"axis": (0, 0)}),
    ),
)
class Min(_Extreme):
    select = staticmethod(np.min)


def min(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """The smallest element over ``axis``; tied minima share the gradient evenly."""
    return Min(axis, keepdims)(x)
