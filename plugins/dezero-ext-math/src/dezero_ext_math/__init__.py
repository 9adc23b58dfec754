"""dezero-ext-math: math ops for dezero_ext, shipped as an ordinary plugin.

This package is the public namespace: each op as a typed function and its ``Function``
class, ``from dezero_ext_math import sin, logsumexp``. Elementwise ops live in
``elementwise``, reductions over axes in ``reduction``, each declared beside its class in the
module's ``ops``. The plugin's entry point is ``dezero_ext_math.plugin`` (group
``dezero_ext``, name ``math``), whose hook gathers both. ``log``, ``abs``, ``max`` and
``min`` are built into dezero_ext (the core's operators use them) and re-exported here.
"""

from __future__ import annotations

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
