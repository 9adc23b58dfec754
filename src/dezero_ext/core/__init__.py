"""The define-by-run core: ``Variable``, ``Function``, the backward pass and the modes."""

# Order matters: variable.py binds the built-in operator ops at its end, and those import
# function.py, which needs variable.py's names. Importing variable.py first makes that work.
from dezero_ext.core.variable import (
    Array,
    Index,
    Operand,
    Parameter,
    Variable,
    as_array,
    as_variable,
)

# isort: split
from dezero_ext.core.config import (
    detect_anomaly,
    is_anomaly_detected,
    is_grad_enabled,
    is_training,
    no_grad,
    test_mode,
    using_config,
)
from dezero_ext.core.function import Function, FunctionBase, MultiOutputFunction

__all__ = [
    "Array",
    "Function",
    "FunctionBase",
    "Index",
    "MultiOutputFunction",
    "Operand",
    "Parameter",
    "Variable",
    "as_array",
    "as_variable",
    "detect_anomaly",
    "is_anomaly_detected",
    "is_grad_enabled",
    "is_training",
    "no_grad",
    "test_mode",
    "using_config",
]
