"""``x ** y`` with a zero base: the exponent's gradient ``x ** y * log(x)`` is ``0 * log(0)``
there, which is 0 (the product's limit, and PyTorch's answer), not NumPy's nan. Both passes
(arrays, and Variables under ``create_graph``) give it, with no RuntimeWarning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.ops import power


def _grads(x0: np.ndarray, y0: np.ndarray, create_graph: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = Variable(x0), Variable(y0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log(0)'s warning would be about a value not used
        power(x, y).sum().backward(create_graph=create_graph)
    assert x.grad is not None and y.grad is not None
    return x.grad.data, y.grad.data


@pytest.mark.parametrize("create_graph", [False, True])
def test_the_exponent_gradient_at_a_zero_base_is_zero(create_graph: bool) -> None:
    gx, gy = _grads(np.array([0.0, 1.0, 2.0]), np.array([2.0, 2.0, 2.0]), create_graph)
    np.testing.assert_array_equal(gx, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(gy, [0.0, 0.0, 4.0 * np.log(2.0)])


@pytest.mark.parametrize("create_graph", [False, True])
def test_zero_exponent_at_a_zero_base_gives_zero_gradients(create_graph: bool) -> None:
    # 0 ** 0 = 1; PyTorch's convention: both gradients 0 (not 0 * inf = nan, nor log(0))
    gx, gy = _grads(np.array([0.0, 3.0]), np.array([0.0, 0.0]), create_graph)
    np.testing.assert_array_equal(gx, [0.0, 0.0])
    np.testing.assert_allclose(gy, [0.0, np.log(3.0)])


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_broadcast_zero_base_sums_masked_gradients(create_graph: bool) -> None:
    gx, gy = _grads(np.array([[0.0], [1.0]]), np.array([3.0, 2.0]), create_graph)
    assert gy.shape == (2,)
    np.testing.assert_array_equal(gy, [0.0, 0.0])  # log(1) = 0 and the masked 0 * log(0)
    np.testing.assert_array_equal(gx, [[0.0], [5.0]])


def test_an_infinite_base_gradient_at_zero_is_not_masked() -> None:
    x, y = Variable(np.array(0.0)), Variable(np.array(0.5))
    with np.errstate(divide="ignore"):
        power(x, y).backward()
    assert x.grad is not None and x.grad.data == np.inf  # d/dx sqrt(x) at 0: truly infinite
    assert y.grad is not None and y.grad.data == 0.0


def test_a_number_base_of_zero_gives_a_zero_exponent_gradient() -> None:
    t = Variable(np.array(0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = 0.0**t
        y.backward()
    assert y.data == 0.0
    assert t.grad is not None and t.grad.data == 0.0


def test_a_negative_exponent_at_a_zero_base_is_left_to_numpy() -> None:
    # 0 ** -1 = inf: no limit to take, so the gradient is what the formula gives (not masked)
    x, y = Variable(np.array(0.0)), Variable(np.array(-1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        power(x, y).backward()
    assert y.grad is not None and y.grad.data == -np.inf
