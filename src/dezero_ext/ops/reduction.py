"""Built-in plugin: the reductions ``sum`` and ``mean`` (over any axes, ``keepdims``)."""

from __future__ import annotations

import math

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.hookspecs import hookimpl
from dezero_ext.opdef import Domain, OpDef, ShapeRule
from dezero_ext.ops._util import normalize_axis
from dezero_ext.ops.shape import broadcast_to, reshape

Axis = int | tuple[int, ...] | None


def _kept_shape(in_shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape with ``keepdims=True``: reduced axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(in_shape))


class Sum(Function):
    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x: Array) -> Array:
        self.axes = normalize_axis(self.axis, x.ndim, type(self).__name__.lower())
        y: Array = x.sum(axis=self.axes, keepdims=self.keepdims)
        return y

    def backward(self, gy: Variable) -> Variable:
        shape = self.inputs[0].data.shape
        return broadcast_to(reshape(gy, _kept_shape(shape, self.axes)), shape)


class Mean(Sum):
    def forward(self, x: Array) -> Array:
        y = super().forward(x)
        self.count = math.prod(x.shape[a] for a in self.axes)
        # an empty axis gives 0 / 0: nan with NumPy's RuntimeWarning, as np.mean does
        m: Array = y / y.dtype.type(self.count)
        return m

    def backward(self, gy: Variable) -> Variable:
        return super().backward(gy / self.count) if self.count else super().backward(gy)


def sum(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Sum over ``axis`` (an int, a tuple of ints, or None for all axes)."""
    return Sum(axis, keepdims)(x)


def mean(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Arithmetic mean over ``axis`` (an int, a tuple of ints, or None for all axes)."""
    return Mean(axis, keepdims)(x)


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    reduction = ShapeRule.REDUCTION
    return [
        OpDef(
            "sum",
            Sum,
            domains=(Domain(-3.0, 3.0),),
            shape_rule=reduction,
            order=2,
            description="sum over axes",
        ),
        OpDef(
            "mean",
            Mean,
            domains=(Domain(-3.0, 3.0),),
            shape_rule=reduction,
            order=2,
            description="mean over axes",
        ),
    ]
