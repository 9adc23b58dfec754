"""dezero-ext-math: math ops for dezero_ext, shipped as an ordinary plugin.

Found through its entry point (group ``dezero_ext``, name ``math``); each op is also a typed
function: ``from dezero_ext_math import sin, logsumexp``. Elementwise ops live in
``elementwise``, reductions over axes in ``reduction``, each declared beside its class in the
module's ``ops``; the hook here gathers both. ``log``, ``abs``, ``max`` and ``min`` are built
into dezero_ext (the core's operators use them) and re-exported here.
"""

from __future__ import annotations

from dezero_ext import OpDef, hookimpl
from dezero_ext_math import elementwise, reduction
from dezero_ext_math.elementwise import (
    Abs,
    Clip,
    Cos,
    Log,
    Log1p,
    Maximum,
    Minimum,
    Sin,
    Sqrt,
    Tan,
    Tanh,
    abs,  # noqa: A004
    clip,
    cos,
    log,
    log1p,
    maximum,
    minimum,
    sin,
    sqrt,
    tan,
    tanh,
)
from dezero_ext_math.reduction import LogSumExp, Max, Min, logsumexp, max, min  # noqa: A004

__all__ = [
    "Abs",
    "Clip",
    "Cos",
    "Log",
    "Log1p",
    "LogSumExp",
    "Max",
    "Maximum",
    "Min",
    "Minimum",
    "Sin",
    "Sqrt",
    "Tan",
    "Tanh",
    "abs",
    "clip",
    "cos",
    "dezero_ext_ops",
    "log",
    "log1p",
    "logsumexp",
    "max",
    "maximum",
    "min",
    "minimum",
    "sin",
    "sqrt",
    "tan",
    "tanh",
]


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    return [*elementwise.ops, *reduction.ops]
