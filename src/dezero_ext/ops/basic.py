"""Built-in ops ``square`` and ``exp``: DeZero's first two functions."""

from __future__ import annotations

import math

import numpy as np
from numpy import ndarray

from dezero_ext.core.backend import BACKENDS, namespace_of
from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import Domain, OpSet
from dezero_ext.ops.references import elementwise_reference

ops = OpSet()


@ops.declare(
    "square",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(-3.0, 3.0),
    order=3,
    description="x**2",
    reference=elementwise_reference(lambda x: x * x),
)
class Square(Function):
    """``x ** 2``."""

    saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return x * x
        return np.multiply(x, x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return x * x

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} * {x0}", ("2 * {x0} * {gy}",), {})

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 2 * x * gy

    def backward_array(self, gy: Array) -> Array:
        return 2 * self.input_array() * gy

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def square(x: Operand) -> Variable:
    """``x ** 2``, elementwise."""
    return Square()(x)


@ops.declare(
    "exp",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(-3.0, 3.0),
    order=3,
    description="e**x",
    reference=elementwise_reference(math.exp),
)
class Exp(Function):
    """``e ** x``; its gradient reuses the output."""

    saves_inputs = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return namespace_of(x, op="exp").exp(x)  # type: ignore[no-any-return]  # x's library
        return np.exp(x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return np.exp(x)

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{exp}({x0})", ("{gy} * {y}",), {"exp": np.exp})

    def backward(self, gy: Variable) -> Variable:
        return gy * self.output()

    def backward_array(self, gy: Array) -> Array:
        return gy * self.output_array()

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def exp(x: Operand) -> Variable:
    """``e ** x``, elementwise."""
    return Exp()(x)
