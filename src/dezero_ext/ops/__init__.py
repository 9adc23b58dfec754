"""The built-in ops, as typed functions: ``dezero_ext.ops.square(x)``.

Each module here declares its ops beside their classes in an ``OpSet`` named ``ops``;
``BUILTIN_OPSETS`` lists them, and the registry registers each as a plugin through the same
``dezero_ext_ops`` hook as external plugins. Importing this package also binds the operators
of ``Variable`` (``+``, ``x[...]``, ``x.max()``, ``abs(x)``, ...) to these ops, so they work
with no plugin loaded and never go through the registry.
"""

from __future__ import annotations

from typing import Final

from dezero_ext.core.operators import OPERATORS
from dezero_ext.opdef import OpSet
from dezero_ext.ops import arithmetic, basic, linalg, reduction, shape
from dezero_ext.ops.arithmetic import (
    abs,  # noqa: A004
    add,
    add_scalar,
    div,
    div_scalar,
    log,
    mul,
    mul_scalar,
    neg,
    pow,  # noqa: A004
    power,
    rdiv_scalar,
    rpow_scalar,
    rsub_scalar,
    sub,
)
from dezero_ext.ops.basic import exp, square
from dezero_ext.ops.linalg import matmul
from dezero_ext.ops.reduction import max, mean, min, sum  # noqa: A004
from dezero_ext.ops.shape import (
    broadcast_to,
    expand_dims,
    flatten,
    get_item,
    reshape,
    sum_to,
    transpose,
)

BUILTIN_OPSETS: Final[dict[str, OpSet]] = {
    module.__name__: module.ops for module in (basic, arithmetic, shape, reduction, linalg)
}
"""The built-in plugins: a plugin name (the module's) and the ops it declares."""


def _bind_operators() -> None:
    ops = OPERATORS
    ops.Add, ops.Sub, ops.Mul, ops.Div = (
        arithmetic.Add,
        arithmetic.Sub,
        arithmetic.Mul,
        arithmetic.Div,
    )
    ops.Power, ops.Neg, ops.Pow = arithmetic.Power, arithmetic.Neg, arithmetic.Pow
    ops.AddScalar, ops.RSubScalar = arithmetic.AddScalar, arithmetic.RSubScalar
    ops.MulScalar, ops.DivScalar = arithmetic.MulScalar, arithmetic.DivScalar
    ops.RDivScalar, ops.RPowScalar = arithmetic.RDivScalar, arithmetic.RPowScalar
    ops.abs, ops.matmul, ops.get_item = abs, matmul, get_item
    ops.transpose, ops.reshape = transpose, reshape
    ops.sum, ops.mean, ops.max, ops.min = sum, mean, max, min


_bind_operators()

__all__ = [
    "BUILTIN_OPSETS",
    "abs",
    "add",
    "add_scalar",
    "broadcast_to",
    "div",
    "div_scalar",
    "exp",
    "expand_dims",
    "flatten",
    "get_item",
    "log",
    "matmul",
    "max",
    "mean",
    "min",
    "mul",
    "mul_scalar",
    "neg",
    "pow",
    "power",
    "rdiv_scalar",
    "rpow_scalar",
    "rsub_scalar",
    "reshape",
    "square",
    "sub",
    "sum",
    "sum_to",
    "transpose",
]
