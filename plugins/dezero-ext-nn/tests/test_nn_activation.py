"""Activations of dezero-ext-nn: values, first and second derivatives, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable, get_registry
from dezero_ext_nn import leaky_relu, log_softmax, relu, sigmoid, softmax
from dezero_ext_nn.activation import Sigmoid
from tests.oracle import assert_float32, assert_gradients

RNG = np.random.default_rng(7)


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return out


def _away_from_zero(shape: tuple[int, ...]) -> np.ndarray:
    x = RNG.uniform(-2, 2, shape)
    return np.where(np.abs(x) < 0.1, 0.5, x)


def test_sigmoid_values_and_no_overflow() -> None:
    x = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    with np.errstate(over="raise", invalid="raise"):
        y = sigmoid(Variable(x)).data
    np.testing.assert_allclose(y[1:4], 1 / (1 + np.exp(-x[1:4])), rtol=1e-14)
    assert y[0] == 0.0
    assert y[-1] == 1.0


def test_sigmoid_gradients_to_second_order() -> None:
    assert_gradients(sigmoid, [RNG.uniform(-4, 4, (3, 4))])


def test_sigmoid_backward_reuses_its_output() -> None:
    x = Variable(np.array([0.3, -1.0]))
    y = Sigmoid(output=np.array([0.5, 0.5]))(x)  # a backward that recomputes would not see it
    y.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, [0.25, 0.25])


def test_relu_values_gradient_and_convention_at_zero() -> None:
    x = Variable(np.array([-1.5, 0.0, 2.0]))
    y = relu(x)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0])
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])  # relu'(0) = 0
    assert_gradients(relu, [_away_from_zero((2, 5))])


def test_leaky_relu_values_and_gradients() -> None:
    x = np.array([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_allclose(leaky_relu(Variable(x)).data, [-0.4, -0.1, 0.0, 3.0])
    np.testing.assert_allclose(leaky_relu(Variable(x), 0.01).data, np.where(x > 0, x, 0.01 * x))
    v = Variable(x)
    leaky_relu(v, 0.3).backward()
    assert v.grad is not None
    np.testing.assert_allclose(v.grad.data, [0.3, 0.3, 0.3, 1.0])  # slope at 0: left
    assert_gradients(lambda x: leaky_relu(x, 0.1), [_away_from_zero((3, 3))])


def test_leaky_relu_rejects_a_bad_slope() -> None:
    with pytest.raises(TypeError, match="leaky_relu: slope"):
        leaky_relu(Variable(np.ones(2)), "0.1")  # type: ignore[arg-type]  # the error under test


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_values_and_gradients(axis: int) -> None:
    x = RNG.uniform(-3, 3, (3, 4))
    y = softmax(Variable(x), axis)
    np.testing.assert_allclose(y.data, _np_softmax(x, axis), rtol=1e-13)
    np.testing.assert_allclose(y.data.sum(axis=axis), 1.0)
    assert_gradients(lambda v: softmax(v, axis), [x])


def test_softmax_default_axis_is_1_and_large_logits_are_stable() -> None:
    x = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise"):
        y = softmax(Variable(x)).data
    np.testing.assert_allclose(y, [[0.5, 0.5], [0.0, 1.0]])
    x3 = RNG.uniform(-2, 2, (2, 3, 2))
    np.testing.assert_allclose(softmax(Variable(x3)).data, _np_softmax(x3, 1))
    assert_gradients(softmax, [x3])


@pytest.mark.parametrize("axis", [1, 0, -1])
def test_log_softmax_values_and_gradients(axis: int) -> None:
    x = RNG.uniform(-3, 3, (2, 5))
    y = log_softmax(Variable(x), axis)
    np.testing.assert_allclose(y.data, np.log(_np_softmax(x, axis)), rtol=1e-12)
    assert_gradients(lambda v: log_softmax(v, axis), [x])


def test_log_softmax_is_finite_where_log_of_softmax_underflows() -> None:
    y = log_softmax(Variable(np.array([[0.0, -1000.0]])))
    np.testing.assert_allclose(y.data, [[0.0, -1000.0]])


def test_softmax_axis_out_of_range_names_op_and_shape() -> None:
    with pytest.raises(ValueError, match=r"softmax: axis 1 is out of range .* shape \(3,\)"):
        softmax(Variable(np.ones(3)))
    with pytest.raises(ValueError, match=r"log_softmax: axis 2 is out of range"):
        log_softmax(Variable(np.ones((2, 2))), 2)


@pytest.mark.parametrize(
    "op",
    [sigmoid, relu, leaky_relu, softmax, log_softmax],
    ids=lambda f: f.__name__,
)
def test_float32_is_preserved(op: object) -> None:
    assert callable(op)
    assert_float32(op, [_away_from_zero((2, 3))])


def test_activations_are_registered_through_the_plugin() -> None:
    registry = get_registry()
    for name in ("sigmoid", "relu", "leaky_relu", "softmax", "log_softmax"):
        assert registry.get(name).order == 3
        assert registry.provider(name).distribution == "dezero-ext-nn"
    assert registry.get("relu").domains[0].kink_rule == "left"
