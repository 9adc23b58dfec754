"""dezero_ext: a typed, plugin-extensible, define-by-run autodiff framework on NumPy.

>>> import numpy as np
>>> from dezero_ext import Variable
>>> from dezero_ext.ops import exp, square
>>> x = Variable(np.array(0.5))
>>> y = square(exp(square(x)))
>>> y.backward()
>>> round(float(x.grad.data), 12)
3.297442541401
"""

# First: in the dezero-ext command, a Ctrl-C while it starts is one line (see _startup).
from dezero_ext import _startup  # isort: skip  # noqa: F401

import importlib
from typing import TYPE_CHECKING, Final

from dezero_ext.core import (
    Array,
    Function,
    FunctionBase,
    MultiOutputFunction,
    Operand,
    Parameter,
    Traced,
    TraceError,
    Variable,
    as_array,
    as_variable,
    detect_anomaly,
    invalidate_traces,
    is_anomaly_detected,
    is_grad_enabled,
    is_training,
    no_grad,
    test_mode,
    trace,
    using_config,
)
from dezero_ext.opdef import Case, Declaration, Domain, Draw, OpDef, OpSet, ShapeRule, Tolerance

# Binds Variable's operators to the built-in ops (the core imports nothing above it).
from dezero_ext import ops  # isort: skip  # noqa: F401

if TYPE_CHECKING:
    from dezero_ext.hookspecs import hookimpl
    from dezero_ext.registry import (
        OpConflictError,
        OpRegistry,
        PluginError,
        PluginInfo,
        UnknownOpError,
        get_registry,
    )

# The plugin machinery (pluggy, entry points) loads on first use: ``import dezero_ext`` and
# every op work without it.
_LAZY: Final = {
    "hookimpl": "dezero_ext.hookspecs",
    "OpConflictError": "dezero_ext.registry",
    "OpRegistry": "dezero_ext.registry",
    "PluginError": "dezero_ext.registry",
    "PluginInfo": "dezero_ext.registry",
    "UnknownOpError": "dezero_ext.registry",
    "get_registry": "dezero_ext.registry",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dezero_ext' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "Array",
    "Case",
    "Declaration",
    "Domain",
    "Draw",
    "Function",
    "FunctionBase",
    "MultiOutputFunction",
    "OpConflictError",
    "OpDef",
    "OpRegistry",
    "OpSet",
    "Operand",
    "Parameter",
    "PluginError",
    "PluginInfo",
    "ShapeRule",
    "Tolerance",
    "TraceError",
    "Traced",
    "UnknownOpError",
    "Variable",
    "__version__",
    "as_array",
    "as_variable",
    "detect_anomaly",
    "get_registry",
    "hookimpl",
    "invalidate_traces",
    "is_anomaly_detected",
    "is_grad_enabled",
    "is_training",
    "no_grad",
    "test_mode",
    "trace",
    "using_config",
]
