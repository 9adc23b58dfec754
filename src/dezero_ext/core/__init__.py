"""The define-by-run core: ``Variable``, ``Function``, the backward pass and the modes."""

# The modules stand in layers (operators < variable < function < engine; see
# docs/architecture.md): each imports only those below it. Importing the engine binds
# Variable.backward to the backward pass (variable.ENGINE); dezero_ext.ops fills the
# operator table (operators.OPERATORS) when the package is imported.
from dezero_ext.core import engine as _engine  # noqa: F401  # binds Variable.backward
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
from dezero_ext.core.tracing import Traced, TraceError, invalidate_traces, trace
from dezero_ext.core.variable import (
    Array,
    Index,
    Operand,
    Parameter,
    Variable,
    as_array,
    as_variable,
)

__all__ = [
    "Array",
    "Function",
    "FunctionBase",
    "Index",
    "MultiOutputFunction",
    "Operand",
    "Parameter",
    "TraceError",
    "Traced",
    "Variable",
    "as_array",
    "as_variable",
    "detect_anomaly",
    "invalidate_traces",
    "is_anomaly_detected",
    "is_grad_enabled",
    "is_training",
    "no_grad",
    "test_mode",
    "trace",
    "using_config",
]
