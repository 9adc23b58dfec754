"""dezero-ext-math: elementwise math ops for dezero_ext, shipped as an ordinary plugin.

Found through its entry point (group ``dezero_ext``, name ``math``); each op is also a typed
function: ``from dezero_ext_math import sin``.
"""

from __future__ import annotations

import math

import numpy as np

from dezero_ext import Array, Domain, Function, OpDef, Operand, Variable, hookimpl

__all__ = ["Cos", "Sin", "Tanh", "cos", "dezero_ext_ops", "sin", "tanh"]


class Sin(Function):
    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * cos(x)


class Cos(Function):
    def forward(self, x: Array) -> Array:
        return np.cos(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * -sin(x)


class Tanh(Function):
    """Hyperbolic tangent; the gradient ``1 - y**2`` reuses the output."""

    def forward(self, x: Array) -> Array:
        return np.tanh(x)

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy * (1 - y * y)


def sin(x: Operand) -> Variable:
    """Sine, elementwise."""
    return Sin()(x)


def cos(x: Operand) -> Variable:
    """Cosine, elementwise."""
    return Cos()(x)


def tanh(x: Operand) -> Variable:
    """Hyperbolic tangent, elementwise."""
    return Tanh()(x)


_CIRCLE = Domain(-2 * math.pi, 2 * math.pi)


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    return [
        OpDef("sin", Sin, domains=(_CIRCLE,), order=3, description="sine"),
        OpDef("cos", Cos, domains=(_CIRCLE,), order=3, description="cosine"),
        OpDef("tanh", Tanh, domains=(Domain(-4.0, 4.0),), order=3, description="tanh"),
    ]
