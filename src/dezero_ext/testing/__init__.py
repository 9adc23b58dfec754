"""Property-based gradient verification (the checker's public API).

Needs Hypothesis (``pip install 'hypothesis>=6.100'``; from a dezero-ext checkout,
``pip install -e '.[testing]'``) for the property tests and the strategies, which load on
first use; ``import dezero_ext`` does not import it.

- ``check_gradients(target, inputs, params, options)``: one example against numerical
  differentiation, first and higher orders; returns a ``CheckResult`` or raises
  ``GradientCheckError`` with a report.
- ``check_op(target, options)``: the property test of an op (or any ``Target``), with inputs
  Hypothesis draws from its declaration; returns an ``OpCheckResult``, never raises.
- ``check_layer(layer, input_domain, input_shape)``: a layer's gradients with respect to its
  input and every parameter; returns a ``LayerCheckResult`` or raises ``LayerCheckError``.
  ``LayerCase`` declares one for the pytest hook ``pytest_dezero_ext_layers``.
- ``gradient_test(target, options)``: the property test as a pytest test, one per order.
- ``CheckOptions``: how to check (orders, examples, seed, full Jacobian, tolerance, time
  limit), one object every function above takes, as ``dezero-ext check`` and the pytest
  plugin build it.
- ``Target``: what the checker needs from anything it checks; ``TargetSpec`` declares one,
  ``TargetFaultError`` is a fault a target reports itself, ``as_target`` makes an ``OpDef`` or
  a function of Variables one. ``dezero_ext.testing.adapters``: PyTorch, JAX and DeZero
  functions as targets.
- ``cases(opdef, dtype)``, ``array_in(domain, shape, dtype)``: the strategies, for your own
  property tests.

Everything else in this package's modules is internal: it may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dezero_ext.testing.gradcheck import CheckResult, check_gradients
from dezero_ext.testing.op_targets import as_target
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.protocol import Target, TargetFaultError, TargetSpec
from dezero_ext.testing.report import GradientCheckError

if TYPE_CHECKING:  # loaded on first use: they need Hypothesis
    from dezero_ext.testing.generated import gradient_test
    from dezero_ext.testing.layers import LayerCase, LayerCheckError, LayerCheckResult, check_layer
    from dezero_ext.testing.runner import OpCheckResult, check_op
    from dezero_ext.testing.strategies import array_in, cases

__all__ = [
    "CheckOptions",
    "CheckResult",
    "GradientCheckError",
    "LayerCase",
    "LayerCheckError",
    "LayerCheckResult",
    "OpCheckResult",
    "Target",
    "TargetFaultError",
    "TargetSpec",
    "array_in",
    "as_target",
    "cases",
    "check_gradients",
    "check_layer",
    "check_op",
    "gradient_test",
]

_NEED_HYPOTHESIS = {
    "layers": ("LayerCase", "LayerCheckError", "LayerCheckResult", "check_layer"),
    "generated": ("gradient_test",),
    "runner": ("OpCheckResult", "check_op"),
    "strategies": ("array_in", "cases"),
}


def __getattr__(name: str) -> object:
    for module, names in _NEED_HYPOTHESIS.items():
        if name in names:
            return getattr(importlib.import_module(f"dezero_ext.testing.{module}"), name)
    raise AttributeError(f"module 'dezero_ext.testing' has no attribute {name!r}")
