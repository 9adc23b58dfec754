"""Operators on Variable: values, gradients, broadcasting, reflected forms and dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Variable


def grad_of(x: Variable) -> Array:
    assert x.grad is not None
    return x.grad.data


def test_arithmetic_values_and_gradients() -> None:
    a, b = Variable(np.array(3.0)), Variable(np.array(2.0))
    y = (a + b) * (a - b) / b + (-a) ** 2
    y.backward()
    # y = (a^2 - b^2)/b + a^2
    assert y.data == pytest.approx((9 - 4) / 2 + 9)
    assert grad_of(a) == pytest.approx(2 * 3 / 2 + 2 * 3)
    assert grad_of(b) == pytest.approx(-9 / 4 - 1)


def test_reflected_forms_with_python_numbers() -> None:
    x = Variable(np.array(2.0))
    for y, value, grad in [
        (3 + x, 5.0, 1.0),
        (3 - x, 1.0, -1.0),
        (3 * x, 6.0, 3.0),
        (3 / x, 1.5, -0.75),
        (2**x, 4.0, 4.0 * np.log(2.0)),
        (x**3, 8.0, 12.0),
    ]:
        x.cleargrad()
        y.backward()
        assert y.data == pytest.approx(value)
        assert grad_of(x) == pytest.approx(grad)


def test_variable_exponent() -> None:
    x, e = Variable(np.array(2.0)), Variable(np.array(3.0))
    y = x**e
    y.backward()
    assert y.data == pytest.approx(8.0)
    assert grad_of(x) == pytest.approx(12.0)
    assert grad_of(e) == pytest.approx(8.0 * np.log(2.0))


def test_ndarray_on_the_left_dispatches_to_the_variable() -> None:
    x = Variable(np.array([1.0, 2.0]))
    for y in (np.array([3.0, 4.0]) + x, np.array([3.0, 4.0]) * x, np.ones(2) - x):
        assert isinstance(y, Variable)
    y = np.array([3.0, 4.0]) * x
    y.backward()
    np.testing.assert_array_equal(grad_of(x), [3.0, 4.0])


def test_broadcasting_gradients_come_back_in_each_inputs_shape() -> None:
    a = Variable(np.ones((2, 3)))
    b = Variable(np.array([1.0, 2.0, 3.0]))
    c = Variable(np.ones((2, 1)))
    y = (a * b + c) / (b + 1.0)
    y.backward()
    assert grad_of(a).shape == (2, 3)
    assert grad_of(b).shape == (3,)
    assert grad_of(c).shape == (2, 1)
    # d/dc sum((a*b + c)/(b+1)) = sum over the 3 columns of 1/(b+1)
    np.testing.assert_allclose(grad_of(c), np.full((2, 1), np.sum(1 / (b.data + 1))))


def test_matmul_operator_and_reflected() -> None:
    a = Variable(np.arange(6.0).reshape(2, 3))
    w = np.ones((3, 2))
    y = a @ w
    assert isinstance(y, Variable) and y.shape == (2, 2)
    y.backward()
    np.testing.assert_array_equal(grad_of(a), np.full((2, 3), 2.0))
    z = np.ones((4, 2)) @ a
    assert isinstance(z, Variable) and z.shape == (4, 3)


def test_getitem_gradient_scatters_into_place() -> None:
    x = Variable(np.arange(12.0).reshape(3, 4))
    y = x[1]
    assert y.shape == (4,)
    y.backward()
    expected = np.zeros((3, 4))
    expected[1] = 1
    np.testing.assert_array_equal(grad_of(x), expected)

    x.cleargrad()
    x[np.array([0, 0, 2]), 1:3].backward()
    expected = np.zeros((3, 4))
    expected[0, 1:3] = 2  # index 0 taken twice: its gradient adds up
    expected[2, 1:3] = 1
    np.testing.assert_array_equal(grad_of(x), expected)


def test_float32_stays_float32_with_python_scalars_and_through_backward() -> None:
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    y = (2 * x + 1.5) ** 2 / 3 - x * x
    assert y.dtype == np.float32
    y.backward(create_graph=True)
    assert grad_of(x).dtype == np.float32
    gx = x.grad
    assert gx is not None
    x.cleargrad()
    gx.backward()
    assert grad_of(x).dtype == np.float32


def test_unary_plus_and_minus() -> None:
    x = Variable(np.array(2.0))
    assert (+x) is x
    y = -x
    y.backward()
    assert y.data == -2.0 and grad_of(x) == -1.0


def test_python_numbers_are_parameters_not_inputs() -> None:
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    for y in (x + 2, 2 + x, x - 2, 2 - x, x * 2, 2 * x, x / 2, 2 / x, x**2, 2**x):
        assert y.creator is not None
        assert y.creator.inputs == (x,), type(y.creator).__name__
        assert y.dtype == np.float32
    np.testing.assert_allclose((2 - x).data, [1.0, 0.0])
    np.testing.assert_allclose((2 / x).data, [2.0, 1.0])
    np.testing.assert_allclose((2**x).data, [2.0, 4.0])


def test_a_negative_base_with_a_variable_exponent_follows_numpy() -> None:
    x = Variable(np.array([2.0]))
    with np.errstate(invalid="ignore"):
        y = (-8.0) ** (x / 3)
    assert np.isnan(y.data).all()  # NumPy: a negative base to a fractional power is nan
