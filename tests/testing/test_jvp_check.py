"""The checker proves forward-mode rules (``testing/jvpcheck.py``): a right rule passes, and a
mutant with a wrong JVP (right VJP) or a wrong VJP (right JVP) is caught, the report naming
the side; ``check_op`` runs the check for an op with a native rule."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, Variable
from dezero_ext.registry import get_registry
from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing.jvpcheck import JvpCheckError, check_jvp

X = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]])


class Cube(Function):
    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * x * gy

    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * x * tx


class WrongJvpCube(Cube):
    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * tx  # fault: x, not x**2


class WrongVjpCube(Cube):
    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 2 * x * x * gy  # fault: 2, not 3 (the JVP is right)


class WrongFastCube(Cube):
    def jvp_array(self, tx: Array) -> Array:
        x = self.input_array()
        result: Array = 3 * x * tx  # fault: the fast path only
        return result


class ConstantJvpCube(Cube):
    def jvp(self, tx: Variable) -> Variable:
        slope = 3 * self.input_array() ** 2
        return tx * Variable(slope)  # fault: right values, but a constant: not differentiable


class MatMul2(Function):
    """``a @ b`` with both rules right."""

    def forward(self, a: Array, b: Array) -> Array:
        return a @ b

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        a, b = self.inputs
        return gy @ b.T, a.T @ gy

    def jvp(self, ta: Variable | None, tb: Variable | None) -> Variable:
        a, b = self.inputs
        assert ta is not None and tb is not None
        return ta @ b + a @ tb


class WrongMatMulJvp(MatMul2):
    def jvp(self, ta: Variable | None, tb: Variable | None) -> Variable:
        a, b = self.inputs
        assert ta is not None and tb is not None
        return ta @ b + (a @ tb) * 2.0  # fault: the second term doubled


def _op(function: type[Function], arity: int = 1, order: int = 1) -> OpDef:
    name = function.__name__.lower()
    return OpDef(name, function, arity=arity, domains=(Domain(-2.0, 2.0),), order=order)


def test_a_right_rule_passes_in_both_dtypes() -> None:
    for dtype in ("float64", "float32"):
        check_jvp(_op(Cube), [X.astype(dtype)], {}, seed=1)
    a, b = np.arange(6.0).reshape(2, 3) / 5, np.arange(12.0).reshape(3, 4) / 7
    check_jvp(_op(MatMul2, 2), [a, b], {}, seed=2)


@pytest.mark.parametrize(
    ("function", "arity", "side"),
    [(WrongJvpCube, 1, "jvp"), (WrongVjpCube, 1, "vjp"), (WrongMatMulJvp, 2, "jvp")],
)
def test_a_wrong_side_is_caught_and_named(function: type[Function], arity: int, side: str) -> None:
    inputs = [X] if arity == 1 else [X, np.arange(12.0).reshape(3, 4) / 7]
    with pytest.raises(JvpCheckError) as caught:
        check_jvp(_op(function, arity), inputs, {}, seed=3)
    assert caught.value.side == side
    wrong = "the JVP is wrong" if side == "jvp" else "the VJP is wrong"
    assert wrong in str(caught.value)
    rule = "jvp" if side == "jvp" else "backward"
    assert f"{function.__name__}.{rule}" in str(caught.value)


def test_at_order_2_the_rule_must_be_differentiable() -> None:
    check_jvp(_op(Cube, order=2), [X], {}, seed=5)
    check_jvp(_op(ConstantJvpCube, order=1), [X], {}, seed=5)  # right at first order
    with pytest.raises(JvpCheckError, match="order 2: d/dw <u, J v>") as caught:
        check_jvp(_op(ConstantJvpCube, order=2), [X], {}, seed=5)
    assert caught.value.side == "jvp" and "ConstantJvpCube.jvp is not differentiable" in str(
        caught.value
    )


def test_a_fast_path_that_disagrees_is_named() -> None:
    with pytest.raises(JvpCheckError, match="jvp_array .the fast path. disagrees with jvp"):
        check_jvp(_op(WrongFastCube), [X], {}, seed=4)


def test_check_op_runs_the_jvp_check_for_an_op_with_a_rule() -> None:
    result = check_op(_op(WrongJvpCube), CheckOptions(examples=5))
    assert result.verdict == "FAIL"
    assert "forward-mode rule check failed" in result.report
    assert "the JVP is wrong" in result.report
    assert check_op(_op(Cube), CheckOptions(examples=5)).passed


@pytest.mark.parametrize("name", ["mul", "matmul", "max", "get_item", "power", "sum_to"])
def test_builtin_rules_pass(name: str) -> None:
    assert check_op(get_registry().get(name), CheckOptions(examples=10)).passed


class Quartic(Function):
    """x**4 with both rules right."""

    def forward(self, x: Array) -> Array:
        return x**4

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 4 * x**3 * gy

    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        return 4 * x**3 * tx


class ThirdOrderWrongQuartic(Quartic):
    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        here = Variable(self.input_array(), requires_grad=False)
        # fault: + 5 (x - here)**2, zero with a zero slope where the rule runs, so the values
        # and the first derivative of the rule are right and only its second is off (by 10)
        return (4 * x**3 + 5 * (x - here) ** 2) * tx


def test_at_order_3_the_rules_second_derivative_is_checked() -> None:
    check_jvp(_op(Quartic, order=3), [X], {}, seed=6)
    check_jvp(_op(ThirdOrderWrongQuartic, order=2), [X], {}, seed=6)  # right to order 2
    with pytest.raises(JvpCheckError, match=r"order 3: d/dw <u, J v> \(differentiated 2 times\)"):
        check_jvp(_op(ThirdOrderWrongQuartic, order=3), [X], {}, seed=6)
