"""Built-in plugin: ``square`` and ``exp``, DeZero's first two functions."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.hookspecs import hookimpl
from dezero_ext.opdef import Domain, OpDef


class Square(Function):
    """``x ** 2``."""

    def forward(self, x: Array) -> Array:
        return x * x

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 2 * x * gy


class Exp(Function):
    """``e ** x``; its gradient reuses the output."""

    def forward(self, x: Array) -> Array:
        return np.exp(x)

    def backward(self, gy: Variable) -> Variable:
        return gy * self.output()


class AsType(Function):
    """Cast to another floating dtype; the gradient is cast back to the input's dtype.

    The engine uses it to give every gradient its input's dtype when an op mixes dtypes.
    """

    def __init__(self, dtype: DTypeLike) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"astype: cast to a floating dtype, not {self.dtype}")

    def forward(self, x: Array) -> Array:
        return x.astype(self.dtype, copy=False)

    def backward(self, gy: Variable) -> Variable:
        return astype(gy, self.inputs[0].data.dtype)


def astype(x: Operand, dtype: DTypeLike) -> Variable:
    """``x`` cast to the floating ``dtype`` (returned as is when it already has it)."""
    if isinstance(x, Variable) and x.data.dtype == np.dtype(dtype):
        return x
    return AsType(dtype)(x)


def square(x: Operand) -> Variable:
    """``x ** 2``, elementwise."""
    return Square()(x)


def exp(x: Operand) -> Variable:
    """``e ** x``, elementwise."""
    return Exp()(x)


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    return [
        OpDef("square", Square, domains=(Domain(-3.0, 3.0),), order=3, description="x**2"),
        OpDef("exp", Exp, domains=(Domain(-3.0, 3.0),), order=3, description="e**x"),
    ]
