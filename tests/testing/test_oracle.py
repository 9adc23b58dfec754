"""The test suite's numerical oracle (tests/oracle.py) can tell a right gradient from a wrong
one, at first, second and higher order, and leaves its inputs alone."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Function, Variable
from tests.oracle import (
    assert_float32,
    assert_grad,
    assert_gradients,
    assert_path_gradient,
    assert_second_order,
    numerical_grad,
)


class WrongSquare(Function):
    """A square whose backward forgets the factor 2."""

    def forward(self, a: Array) -> Array:
        return a * a

    def backward(self, gy: Variable) -> Variable:
        return gy * self.inputs[0]


class CubeWrongSecond(Function):
    """``x**3`` with a right first derivative written on constants: a wrong second derivative
    (DeZero's batch_norm mistake, in miniature)."""

    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * Variable(3 * x.data**2)


class CubeRight(Function):
    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * 3 * x * x


X = np.array([0.5, -1.2, 2.0])


def test_a_wrong_first_derivative_fails() -> None:
    with pytest.raises(AssertionError, match="first derivative"):
        assert_grad(lambda v: WrongSquare()(v), X)
    with pytest.raises(AssertionError, match=r"d/d\(input 0\)"):
        assert_path_gradient(lambda v: WrongSquare()(v), [X])


def test_a_wrong_second_derivative_fails_only_at_second_order() -> None:
    assert_grad(lambda v: CubeWrongSecond()(v), X)
    assert_path_gradient(lambda v: CubeWrongSecond()(v), [X])
    with pytest.raises(AssertionError, match="second derivative"):
        assert_second_order(lambda v: CubeWrongSecond()(v), X)
    with pytest.raises(AssertionError, match="second derivative"):
        assert_gradients(lambda v: CubeWrongSecond()(v), [X])
    with pytest.raises(AssertionError, match=r"through inputs \[0\]"):
        assert_path_gradient(lambda v: CubeWrongSecond()(v), [X], (0,))


def test_right_derivatives_pass_to_third_order() -> None:
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    assert_gradients(lambda v: CubeRight()(v), [x])
    assert_path_gradient(lambda v: CubeRight()(v), [x], (0, 0))
    assert_path_gradient(lambda a, b: a * b * b, [x, x.T.copy()], (1, 0))


def test_numerical_grad_of_a_quadratic_leaves_the_input_alone() -> None:
    x = np.array([1.0, -3.0, 50.0])
    (grad,) = numerical_grad(lambda arrs: float(np.sum(arrs[0] ** 2)), [x])
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-6)
    np.testing.assert_array_equal(x, [1.0, -3.0, 50.0])


def test_float32_check_catches_a_float64_leak() -> None:
    assert_float32(lambda v: v * v, [X])
    with pytest.raises(AssertionError):
        assert_float32(lambda v: v * Variable(np.ones(3)), [X])  # a float64 constant promotes
