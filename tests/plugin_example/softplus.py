"""A third-party op plugin written the way docs/plugin_guide.md shows: each op declared beside
its class, its typed function beside it, one hook returning the module's ``OpSet``.

This file is part of the test suite on purpose: CI runs ``mypy --strict`` over ``tests/``, so
an op written the way the plugin guide shows must type-check without a single ignore.
"""

from __future__ import annotations

import numpy as np

from dezero_ext import (
    Array,
    Domain,
    Function,
    MultiOutputFunction,
    Operand,
    OpSet,
    Variable,
    hookimpl,
)
from dezero_ext.hookspecs import OpsPlugin
from dezero_ext.ops import exp

ops = OpSet()


@ops.declare("softplus", domains=Domain(-5.0, 5.0), order=2, description="log(1 + e**x)")
class SoftPlus(Function):
    """``log(1 + e**x)``."""

    def forward(self, x: Array) -> Array:
        return np.logaddexp(0.0, x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy / (1 + exp(-x))

    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        return tx / (1 + exp(-x))

    def jvp_array(self, tx: Array) -> Array:
        t: Array = tx / (1 + np.exp(-self.input_array()))
        return t


def softplus(x: Operand) -> Variable:
    return SoftPlus()(x)


@ops.declare("split_sign", domains=Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="between"))
class SplitSign(MultiOutputFunction):
    """``(max(x, 0), min(x, 0))``: two outputs."""

    def forward(self, x: Array) -> tuple[Array, Array]:
        return np.maximum(x, 0), np.minimum(x, 0)

    def backward(self, g_pos: Variable, g_neg: Variable) -> Variable:
        (x,) = self.inputs
        positive = Variable((x.data > 0).astype(x.dtype))
        return g_pos * positive + g_neg * (1 - positive)


def split_sign(x: Operand) -> tuple[Variable, ...]:
    return SplitSign()(x)


@hookimpl
def dezero_ext_ops() -> OpSet:
    return ops


def _conforms() -> OpsPlugin:
    """mypy checks that this module has the plugin interface's shape."""
    import tests.plugin_example.softplus as module

    return module
