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

from dezero_ext.core import (
    Array,
    Function,
    FunctionBase,
    MultiOutputFunction,
    Operand,
    Parameter,
    Variable,
    as_array,
    as_variable,
    is_grad_enabled,
    is_training,
    no_grad,
    test_mode,
    using_config,
)
from dezero_ext.hookspecs import hookimpl
from dezero_ext.opdef import Case, Domain, Draw, OpDef, ShapeRule, Tolerance
from dezero_ext.registry import (
    OpConflictError,
    OpRegistry,
    PluginError,
    PluginInfo,
    UnknownOpError,
    get_registry,
)

__version__ = "0.1.0"

__all__ = [
    "Array",
    "Case",
    "Domain",
    "Draw",
    "Function",
    "FunctionBase",
    "MultiOutputFunction",
    "OpConflictError",
    "OpDef",
    "OpRegistry",
    "Operand",
    "Parameter",
    "PluginError",
    "PluginInfo",
    "ShapeRule",
    "Tolerance",
    "UnknownOpError",
    "Variable",
    "__version__",
    "as_array",
    "as_variable",
    "get_registry",
    "hookimpl",
    "is_grad_enabled",
    "is_training",
    "no_grad",
    "test_mode",
    "using_config",
]
