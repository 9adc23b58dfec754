"""No false failures at the edges: the numerical reference's step and the allowed error follow
the scale of the values involved, so a correct op passes where the first step is wrong for
its values (``x + 1e8``, ``log`` near 0), and a wrong op is still caught there."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Domain, Function, OpDef, Variable, get_registry
from dezero_ext.core.variable import Array
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op
from dezero_ext.testing.numerical import F64, directional_derivative, numerical_jacobian


class AlmostAddScalar(Function):
    """``x + c`` whose gradient is 0.1% too large: a bug the check must still see at c = 1e8."""

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Array) -> Array:
        return x + self.c

    def backward(self, gy: Variable) -> Variable:
        return gy * 1.001


class AlmostLog(Function):
    """``log`` whose gradient is 0.1% too large."""

    def forward(self, x: Array) -> Array:
        return np.log(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * 1.001 / x


_SMALL = Domain(1e-5, 1e-3, positive=True, margin=1e-5, outside="nan")


@pytest.mark.parametrize("c", [1e8, -3e9, 1e12])
def test_add_scalar_with_a_large_constant_passes(c: float) -> None:
    add_scalar = get_registry().get("add_scalar")
    x = np.array([0.5, 1.0, -2.0])
    check_gradients(add_scalar, [x], {"c": c})
    check_gradients(add_scalar, [x.astype(np.float32)], {"c": c})


def test_a_wrong_gradient_is_still_caught_beside_a_large_constant() -> None:
    wrong = OpDef("almost_add_scalar", AlmostAddScalar)
    with pytest.raises(GradientCheckError, match="constant factor: .* 1.001 x"):
        check_gradients(wrong, [np.array([0.5, 1.0, -2.0])], {"c": 1e8})


def test_log_on_tiny_positive_values_passes_every_order() -> None:
    log = get_registry().get("log")
    small_log = OpDef("small_log", log.function, domains=(_SMALL,), order=3)
    result = check_op(small_log, options=CheckOptions(examples=60))
    assert result.passed, result.report
    check_gradients(small_log, [np.array([1e-5, 3e-4, 1e-3])])  # the ends of the domain


def test_a_wrong_gradient_is_still_caught_on_tiny_values() -> None:
    wrong = OpDef("almost_log", AlmostLog, domains=(_SMALL,))
    result = check_op(wrong, options=CheckOptions(examples=30))
    assert result.verdict == "FAIL", result.report
    assert result.failure is not None and result.failure.failure.kind == "mismatch"


def test_the_step_shrinks_where_the_values_are_small_and_grows_where_rounding_rules() -> None:
    def log(x: F64) -> tuple[F64]:
        return (np.log(x),)

    ((small,),) = numerical_jacobian(log, [np.array([1e-5])])
    assert float(small.step[0, 0]) < 1e-6  # the first step, 6e-6, is not below x
    assert not small.kink.any()
    assert float(small.central[0, 0]) == pytest.approx(1e5, rel=1e-7)

    def shifted(x: F64) -> tuple[F64]:
        return (x + 1e8,)

    ((large,),) = numerical_jacobian(shifted, [np.array([0.5])])
    assert float(large.step[0, 0]) > 1e-4
    assert float(large.central[0, 0]) == pytest.approx(1.0, rel=1e-6)
    along = directional_derivative(shifted, [np.array([0.5, 1.5])], [np.array([1.0, -0.5])])
    assert float(along.central) == pytest.approx(0.5, rel=1e-6)


def test_a_kink_at_x_stays_a_kink_at_every_step() -> None:
    def relu(x: F64) -> tuple[F64]:
        return (np.maximum(x, 0.0),)

    ((at_kink,),) = numerical_jacobian(relu, [np.array([0.0])])
    assert bool(at_kink.kink[0, 0])
    ((near,),) = numerical_jacobian(relu, [np.array([1e-7])])  # within the first step
    assert not near.kink.any() and float(near.central[0, 0]) == pytest.approx(1.0)
