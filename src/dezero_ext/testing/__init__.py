"""Property-based gradient verification for dezero_ext ops (public API for op authors).

Needs Hypothesis (``pip install 'dezero-ext[testing]'``); ``import dezero_ext`` does not.

- ``check_gradients(op_or_fn, inputs, params)``: one example against numerical
  differentiation, first and higher orders; raises ``GradientCheckError`` with a report.
- ``check_op(opdef)``: the property test of an op, with inputs Hypothesis draws from the op's
  ``Domain``, ``ShapeRule`` or ``sample``; returns an ``OpCheckResult``.
- ``cases(opdef, dtype)``, ``array_in(domain, shape, dtype)``, ``values_in(domain)``: the
  strategies, for your own property tests.
- ``check_layer(layer, input_domain, input_shape)``: a layer's gradients with respect to its
  input and every parameter, as an op's; ``LayerCase`` for the pytest hook
  ``pytest_dezero_ext_layers``.
- ``numerical_jacobian``, ``numerical_vjp``, ``directional_derivative``, ``step_size``: the
  numerical differentiation underneath.
"""

from dezero_ext.testing.gradcheck import (
    CheckResult,
    OrderResult,
    VariableFunction,
    backprop,
    check_gradients,
    tolerance_for,
)
from dezero_ext.testing.layers import (
    CheckableLayer,
    LayerCase,
    LayerCheckError,
    LayerCheckResult,
    check_layer,
)
from dezero_ext.testing.numerical import (
    Derivative,
    derivative_from_samples,
    directional_derivative,
    numerical_jacobian,
    numerical_vjp,
    step_size,
)
from dezero_ext.testing.report import Failure, GradientCheckError, format_failure
from dezero_ext.testing.runner import (
    DEFAULT_EXAMPLES,
    OpCheckResult,
    OpStats,
    check_op,
    op_property,
    op_settings,
)
from dezero_ext.testing.strategies import (
    MAX_SIZE,
    HypothesisDraw,
    array_in,
    cases,
    draw_case,
    intervals,
    shapes_for,
    values_in,
)

__all__ = [
    "MAX_SIZE",
    "DEFAULT_EXAMPLES",
    "CheckResult",
    "CheckableLayer",
    "Derivative",
    "Failure",
    "GradientCheckError",
    "HypothesisDraw",
    "LayerCase",
    "LayerCheckError",
    "LayerCheckResult",
    "OpCheckResult",
    "OpStats",
    "OrderResult",
    "VariableFunction",
    "array_in",
    "backprop",
    "cases",
    "check_gradients",
    "check_layer",
    "check_op",
    "derivative_from_samples",
    "directional_derivative",
    "draw_case",
    "format_failure",
    "intervals",
    "numerical_jacobian",
    "numerical_vjp",
    "op_property",
    "op_settings",
    "shapes_for",
    "step_size",
    "tolerance_for",
    "values_in",
]
