"""Property-based gradient verification for dezero_ext ops (public API for op authors).

Needs Hypothesis (``pip install 'hypothesis>=6.100'``; from a dezero-ext checkout,
``pip install -e '.[testing]'``) for the property tests and the
strategies, which load on first use; ``import dezero_ext`` does not import it.

- ``check_gradients(op_or_fn, inputs, params)``: one example against numerical
  differentiation, first and higher orders; raises ``GradientCheckError`` with a report.
- ``check_op(opdef)``: the property test of an op, with inputs Hypothesis draws from the op's
  ``Domain``, ``ShapeRule`` or ``sample``; returns an ``OpCheckResult``.
- ``Target``: what the checker needs from anything it checks (outputs and derivative
  projections from input arrays, and a ``Declaration``); ``OpTarget`` and ``FunctionTarget``
  implement it for an ``OpDef`` and a function of Variables, an adapter for another framework.
- ``gradient_test(target)``: the property test as a pytest test function, one per order
  (``test_my_op = gradient_test(torch_target(MyOp.apply, order=2))``).
- ``dezero_ext.testing.adapters``: PyTorch, JAX and DeZero functions as targets.
- ``CheckOptions``: which ops and how, as ``dezero-ext check`` and the pytest plugin run them.
- ``cases(opdef, dtype)``, ``array_in(domain, shape, dtype)``, ``values_in(domain)``: the
  strategies, for your own property tests.
- ``check_layer(layer, input_domain, input_shape)``: a layer's gradients with respect to its
  input and every parameter, as an op's; ``LayerCase`` for the pytest hook
  ``pytest_dezero_ext_layers``.
- ``numerical_jacobian``, ``numerical_vjp``, ``directional_derivative``, ``step_size``: the
  numerical differentiation underneath.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dezero_ext.testing.example import Example
from dezero_ext.testing.gradcheck import (
    CheckResult,
    OrderResult,
    VariantResult,
    check_gradients,
    tolerance_for,
)
from dezero_ext.testing.numerical import (
    Derivative,
    derivative_from_samples,
    directional_derivative,
    numerical_jacobian,
    numerical_vjp,
    step_size,
)
from dezero_ext.testing.options import DEFAULT_EXAMPLES, CheckOptions
from dezero_ext.testing.report import Entry, Failure, GradientCheckError, format_failure
from dezero_ext.testing.target import (
    Cotangents,
    Declaration,
    FaultKind,
    Pullback,
    Target,
    TargetFaultError,
    TargetSpec,
)
from dezero_ext.testing.targets import (
    FunctionTarget,
    OpTarget,
    VariableFunction,
    VariableTarget,
    as_target,
)
from dezero_ext.testing.vjp import backprop

if TYPE_CHECKING:  # loaded on first use: they need Hypothesis
    from dezero_ext.testing.generated import gradient_test
    from dezero_ext.testing.layers import (
        CheckableLayer,
        LayerCase,
        LayerCheckError,
        LayerCheckResult,
        check_layer,
    )
    from dezero_ext.testing.runner import OpCheckResult, OpStats, check_op, op_property, op_settings
    from dezero_ext.testing.strategies import (
        MAX_SIZE,
        HypothesisDraw,
        array_in,
        cases,
        draw_case,
        shapes_for,
        values_in,
    )

__all__ = [
    "MAX_SIZE",
    "DEFAULT_EXAMPLES",
    "CheckOptions",
    "CheckResult",
    "CheckableLayer",
    "Cotangents",
    "Declaration",
    "Derivative",
    "Entry",
    "Example",
    "Failure",
    "FaultKind",
    "FunctionTarget",
    "GradientCheckError",
    "HypothesisDraw",
    "LayerCase",
    "LayerCheckError",
    "LayerCheckResult",
    "OpCheckResult",
    "OpStats",
    "OpTarget",
    "OrderResult",
    "Pullback",
    "Target",
    "TargetFaultError",
    "TargetSpec",
    "VariableFunction",
    "VariableTarget",
    "VariantResult",
    "array_in",
    "as_target",
    "backprop",
    "cases",
    "check_gradients",
    "check_layer",
    "check_op",
    "derivative_from_samples",
    "directional_derivative",
    "draw_case",
    "format_failure",
    "gradient_test",
    "numerical_jacobian",
    "numerical_vjp",
    "op_property",
    "op_settings",
    "shapes_for",
    "step_size",
    "tolerance_for",
    "values_in",
]

_NEED_HYPOTHESIS = {
    "layers": ("CheckableLayer", "LayerCase", "LayerCheckError", "LayerCheckResult", "check_layer"),
    "generated": ("gradient_test",),
    "runner": ("OpCheckResult", "OpStats", "check_op", "op_property", "op_settings"),
    "strategies": (
        *("MAX_SIZE", "HypothesisDraw", "array_in", "cases", "draw_case"),
        *("shapes_for", "values_in"),
    ),
}


def __getattr__(name: str) -> object:
    for module, names in _NEED_HYPOTHESIS.items():
        if name in names:
            return getattr(importlib.import_module(f"dezero_ext.testing.{module}"), name)
    raise AttributeError(f"module 'dezero_ext.testing' has no attribute {name!r}")
