"""``check_gradients`` on single examples: ops, plain functions, several outputs, orders,
the full Jacobian, dtypes."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from dezero_ext import Domain, OpDef, Tolerance, Variable, get_registry
from dezero_ext.ops import exp, matmul, mul, square, sum_to
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients
from dezero_ext.testing.gradcheck import tolerance_for
from dezero_ext.testing.vjp import backprop
from tests import mutants
from tests.plugin_example.softplus import SplitSign


def test_an_op_passes_at_every_declared_order() -> None:
    exp_op = get_registry().get("exp")
    result = check_gradients(exp_op, [np.array([0.1, -0.7, 1.3])])
    assert [r.order for r in result.orders] == [1, 2, 3]
    assert all(r.dtype == "float64" for r in result.orders)
    assert all(not r.full_jacobian for r in result.orders)
    assert all(abs(r.analytic - r.numerical) <= r.allowed for r in result.orders)


def test_params_are_passed_to_the_op() -> None:
    sum_op = get_registry().get("sum")
    x = np.arange(6.0).reshape(2, 3)
    result = check_gradients(
        sum_op, [x], {"axis": 1, "keepdims": True}, options=CheckOptions(full_jacobian=True)
    )
    assert result.orders[0].full_jacobian


def test_a_plain_function_of_variables() -> None:
    def f(x: Variable, w: Variable) -> Variable:
        return exp(matmul(x, w)) * square(x).sum()

    x = np.array([[0.1, -0.4], [0.3, 0.2]])
    w = np.array([[0.5], [-0.25]])
    result = check_gradients(f, [x, w], options=CheckOptions(max_order=2))
    assert [r.order for r in result.orders] == [1, 2]


def test_several_outputs_are_seeded_together() -> None:
    op = OpDef("split_sign", SplitSign, domains=(Domain(kinks=(0.0,), kink_rule="left"),))
    check_gradients(op, [np.array([-1.0, 0.5, 2.0])], options=CheckOptions(full_jacobian=True))


def test_a_wrong_example_raises_with_the_worst_entry() -> None:
    with pytest.raises(GradientCheckError) as info:
        check_gradients(mutants.DOUBLED_SQUARE, [np.array([1.0, -2.0, 0.5])])
    f = info.value.failure.worst
    assert f is not None
    assert f.input_index == (1,) and f.output_index == (1,)  # the largest error, at x = -2
    assert f.analytic == pytest.approx(-8.0) and f.numerical == pytest.approx(-4.0)


def test_float32_is_checked_against_a_float64_reference() -> None:
    square_op = get_registry().get("square")
    result = check_gradients(square_op, [np.array([0.3, 1.7], dtype=np.float32)])
    assert result.orders[0].dtype == "float32"
    assert tolerance_for(Tolerance(), "float32") == (2e-3, 2e-3)
    assert tolerance_for(Tolerance(), "float16") == (1e-2, 1e-2)


def test_tolerance_can_be_raised_for_an_example() -> None:
    loose = Tolerance(rtol32=0.05, atol32=0.05)
    check_gradients(
        mutants.FLOAT32_SQUARE,
        [np.array([1.0], dtype=np.float32)],
        options=CheckOptions(tolerance=loose),
    )


def test_backprop_sums_projections_without_adding_ops() -> None:
    x = Variable(np.array([1.0, 2.0]))
    y0, y1 = square(x), mul(x, 3.0)
    (g,) = backprop([y0, y1], [np.array([1.0, 1.0]), np.array([2.0, 0.0])], [x])
    np.testing.assert_allclose(g.data, [2 * 1.0 + 6.0, 2 * 2.0 + 0.0])
    assert x.grad is None  # left clean


def test_backprop_of_a_broadcast_sum() -> None:
    x = Variable(np.ones((1, 3)))
    y = sum_to(Variable(np.ones((2, 3))) * x, (1, 3))
    (g,) = backprop([y], [np.ones((1, 3))], [x])
    np.testing.assert_allclose(g.data, [[2.0, 2.0, 2.0]])


def test_non_float_inputs_are_refused() -> None:
    with pytest.raises(TypeError, match="floating"):
        check_gradients(get_registry().get("exp"), [np.array([1, 2])])


def test_a_nan_gradient_fails() -> None:
    class NanGrad(mutants.Cos):
        def backward(self, gy: Variable) -> Variable:
            return gy * Variable(np.full(gy.shape, np.nan))

    with pytest.raises(GradientCheckError) as info:
        check_gradients(OpDef("nan_grad", NanGrad), [np.array([0.5, 1.0])])
    worst = info.value.failure.worst
    assert worst is not None and worst.analytic is not None and np.isnan(worst.analytic)


def test_importing_dezero_ext_does_not_import_hypothesis() -> None:
    code = (
        "import sys, dezero_ext; dezero_ext.get_registry(); "
        "from dezero_ext.cli import main; main(['ops']); "
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_check_gradients_needs_no_hypothesis_and_check_op_loads_it() -> None:
    code = (
        "import sys, numpy as np, dezero_ext as dx; "
        "from dezero_ext.testing import CheckOptions, check_gradients; "
        "check_gradients(dx.get_registry().get('exp'), [np.array([0.5])]); "
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'; "
        "from dezero_ext.testing import check_op, cases; "
        "assert 'hypothesis' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_public_testing_api_is_documented() -> None:
    import dezero_ext.testing as testing

    for name in testing.__all__:
        obj = getattr(testing, name)
        if isinstance(obj, type) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), f"dezero_ext.testing.{name} has no docstring"
