"""The built-in ops, as typed functions: ``dezero_ext.ops.square(x)``.

Each module here is also a plugin (it has a ``dezero_ext_ops`` hook) registered through the
same path as external plugins; ``BUILTIN_PLUGINS`` lists them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

from dezero_ext.ops import arithmetic, basic, linalg, reduction, shape
from dezero_ext.ops.arithmetic import add, div, mul, neg, pow, power, sub  # noqa: A004
from dezero_ext.ops.basic import exp, square
from dezero_ext.ops.linalg import matmul
from dezero_ext.ops.reduction import mean, sum  # noqa: A004
from dezero_ext.ops.shape import (
    broadcast_to,
    expand_dims,
    flatten,
    get_item,
    reshape,
    sum_to,
    transpose,
)

BUILTIN_PLUGINS: Final[tuple[ModuleType, ...]] = (basic, arithmetic, shape, reduction, linalg)

__all__ = [
    "BUILTIN_PLUGINS",
    "add",
    "broadcast_to",
    "div",
    "exp",
    "expand_dims",
    "flatten",
    "get_item",
    "matmul",
    "mean",
    "mul",
    "neg",
    "pow",
    "power",
    "reshape",
    "square",
    "sub",
    "sum",
    "sum_to",
    "transpose",
]
