"""Losses of dezero-ext-nn: values, derivatives to second order, dtypes, label errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dezero_ext import Variable, get_registry
from dezero_ext_nn import (
    binary_cross_entropy,
    mean_squared_error,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
)
from tests.oracle import assert_float32, assert_gradients

RNG = np.random.default_rng(11)


# ---------------------------------------------------------------------- mean_squared_error
def test_mean_squared_error_is_the_mean_over_all_elements() -> None:
    x0 = RNG.standard_normal((4, 3))
    x1 = RNG.standard_normal((4, 3))
    y = mean_squared_error(Variable(x0), Variable(x1))
    assert y.shape == ()
    np.testing.assert_allclose(y.data, np.mean((x0 - x1) ** 2), rtol=1e-14)
    # not DeZero's sum / batch size, which would be 3 times larger here
    assert not np.isclose(y.data, np.sum((x0 - x1) ** 2) / 4)


def test_mean_squared_error_gradients_to_second_order() -> None:
    assert_gradients(mean_squared_error, [RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))])
    assert_gradients(mean_squared_error, [RNG.standard_normal(5), RNG.standard_normal(5)])


def test_mean_squared_error_broadcasts_with_a_warning_naming_both_shapes() -> None:
    # the book's step 59: a (1, 1) prediction against a (1,) target, as DeZero and PyTorch
    x0, x1 = RNG.standard_normal((3, 1)), RNG.standard_normal(3)
    with pytest.warns(UserWarning, match=r"x0 of shape \(3, 1\) and x1 of shape \(3,\)"):
        y = mean_squared_error(Variable(x0), Variable(x1))
    np.testing.assert_allclose(y.data, np.mean((x0 - x1) ** 2), rtol=1e-14)  # as F.mse_loss
    with pytest.warns(UserWarning, match="broadcast"):
        assert_gradients(mean_squared_error, [x0, x1])


def test_mean_squared_error_of_one_shape_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean_squared_error(Variable(np.ones((3, 1))), np.zeros((3, 1)))


def test_mean_squared_error_refuses_shapes_that_do_not_broadcast() -> None:
    with pytest.raises(ValueError, match=r"mean_squared_error.*\(3,\).*\(2,\)"):
        mean_squared_error(Variable(np.ones(3)), Variable(np.ones(2)))


# ---------------------------------------------------------------------- softmax_cross_entropy
def _np_softmax_ce(x: np.ndarray, t: np.ndarray) -> float:
    x2 = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    log_p = x2 - np.log(np.exp(x2).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(x2)), t.reshape(-1)].mean())


def test_softmax_cross_entropy_value_and_gradients() -> None:
    x = RNG.uniform(-3, 3, (4, 3))
    t = np.array([0, 2, 1, 2])
    y = softmax_cross_entropy(Variable(x), t)
    np.testing.assert_allclose(y.data, _np_softmax_ce(x, t), rtol=1e-13)
    assert_gradients(lambda v: softmax_cross_entropy(v, t), [x])


def test_softmax_cross_entropy_first_gradient_is_softmax_minus_one_hot() -> None:
    x = RNG.uniform(-3, 3, (2, 3))
    t = [1, 0]
    v = Variable(x)
    softmax_cross_entropy(v, t).backward()
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert v.grad is not None
    np.testing.assert_allclose(v.grad.data, (p - np.eye(3)[t]) / 2, rtol=1e-13)


def test_softmax_cross_entropy_with_spatial_axes() -> None:
    x = RNG.uniform(-2, 2, (2, 3, 2))
    t = np.array([[0, 2], [1, 1]])
    y = softmax_cross_entropy(Variable(x), t)
    np.testing.assert_allclose(y.data, _np_softmax_ce(x, t), rtol=1e-13)
    assert_gradients(lambda v: softmax_cross_entropy(v, t), [x])


def test_softmax_cross_entropy_is_stable_for_large_logits() -> None:
    y = softmax_cross_entropy(Variable(np.array([[1000.0, 0.0]])), [1])
    np.testing.assert_allclose(y.data, 1000.0)


def test_softmax_cross_entropy_rejects_one_hot_labels() -> None:
    x = Variable(np.zeros((2, 3)))
    one_hot = np.eye(3)[[0, 2]]
    with pytest.raises(TypeError, match=r"integer class indices.*one-hot.*argmax\(axis=1\)"):
        softmax_cross_entropy(x, one_hot)
    with pytest.raises(ValueError, match=r"shape of x: if it is one-hot, pass t.argmax"):
        softmax_cross_entropy(x, one_hot.astype(int))


def test_softmax_cross_entropy_rejects_out_of_range_labels() -> None:
    x = Variable(np.zeros((3, 4)))
    with pytest.raises(
        ValueError,
        match=r"softmax_cross_entropy: label 4 at index \(1,\) is out of range for 4 classes "
        r"\(valid labels: 0 to 3\)",
    ):
        softmax_cross_entropy(x, [0, 4, 1])
    with pytest.raises(ValueError, match="label -1 at index"):
        softmax_cross_entropy(x, [0, 1, -1])


def test_softmax_cross_entropy_rejects_float_and_misshaped_labels() -> None:
    x = Variable(np.zeros((3, 4)))
    with pytest.raises(TypeError, match=r"t.astype\(int\)"):
        softmax_cross_entropy(x, np.array([0.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=r"dtype bool and shape \(3,\)\.$"):
        softmax_cross_entropy(x, np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"labels t of shape \(2,\) do not match x of shape"):
        softmax_cross_entropy(x, [0, 1])
    with pytest.raises(TypeError, match="labels t are a Variable"):
        softmax_cross_entropy(x, Variable(np.array([0, 1, 2])))  # type: ignore[arg-type]  # the error under test
    with pytest.raises(ValueError, match="batch and a class axis"):
        softmax_cross_entropy(Variable(np.zeros(4)), 1)


# ---------------------------------------------------------------------- sigmoid / binary CE
def _np_bce(p: np.ndarray, t: np.ndarray) -> float:
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def test_sigmoid_cross_entropy_value_and_gradients() -> None:
    x = RNG.uniform(-4, 4, (3, 2))
    t = np.array([[0, 1], [1, 1], [0.3, 0.0]])
    y = sigmoid_cross_entropy(Variable(x), t)
    np.testing.assert_allclose(y.data, _np_bce(1 / (1 + np.exp(-x)), t), rtol=1e-12)
    assert_gradients(lambda v: sigmoid_cross_entropy(v, t), [x])


def test_sigmoid_cross_entropy_is_finite_for_large_logits() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = sigmoid_cross_entropy(Variable(np.array([800.0, -800.0])), np.array([0, 1]))
    np.testing.assert_allclose(y.data, 800.0)


def test_binary_cross_entropy_value_and_gradients() -> None:
    p = RNG.uniform(0.05, 0.95, (4,))
    t = np.array([1, 0, 0.5, 1])
    y = binary_cross_entropy(Variable(p), t)
    np.testing.assert_allclose(y.data, _np_bce(p, t), rtol=1e-13)
    assert_gradients(lambda v: binary_cross_entropy(v, t), [p], rtol=1e-5)


def test_binary_cross_entropy_at_p_equal_t_equal_0_or_1_is_its_limit() -> None:
    """At ``p == t == 0`` (or 1) the loss is 0 (``0 * log(0)`` is 0, as PyTorch has it) and
    the derivatives are those of ``-log(1 - p)`` (``-log(p)``) there, not nan."""
    p = Variable(np.array([0.0, 0.3, 1.0]))
    t = np.array([0.0, 0.5, 1.0])
    with np.errstate(all="raise"):
        y = binary_cross_entropy(p, t)
        y.backward(create_graph=True)
    np.testing.assert_allclose(y.data, -(0.5 * np.log(0.3) + 0.5 * np.log(0.7)) / 3, rtol=1e-14)
    assert p.grad is not None
    np.testing.assert_allclose(p.grad.data, np.array([1.0, (0.3 - 0.5) / 0.21, -1.0]) / 3)
    g = p.grad
    p.cleargrad()
    g.backward()  # d/dp of the gradient: 1/(1-p)^2, t/p^2 + (1-t)/(1-p)^2, 1/p^2
    np.testing.assert_allclose(p.grad.data, np.array([1.0, 0.5 / 0.09 + 0.5 / 0.49, 1.0]) / 3)
    z = Variable(np.array([0.0, 1.0]))
    binary_cross_entropy(z, np.array([0.0, 1.0])).backward()  # the fast path (backward_array)
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.data, [0.5, -0.5])


def test_binary_and_sigmoid_cross_entropy_agree() -> None:
    x = RNG.uniform(-3, 3, (5,))
    t = np.array([0, 1, 1, 0, 1])
    a, b = Variable(x), Variable(x)
    la = sigmoid_cross_entropy(a, t)
    from dezero_ext_nn import sigmoid

    lb = binary_cross_entropy(sigmoid(b), t)
    np.testing.assert_allclose(la.data, lb.data, rtol=1e-12)
    la.backward()
    lb.backward()
    assert a.grad is not None
    assert b.grad is not None
    np.testing.assert_allclose(a.grad.data, b.grad.data, rtol=1e-10)


def test_binary_targets_are_checked() -> None:
    p = Variable(np.full(3, 0.5))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target 2.0 at index \(1,\)"):
        binary_cross_entropy(p, [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"targets t of shape \(3, 1\) and p of shape \(3,\)"):
        binary_cross_entropy(p, np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"sigmoid_cross_entropy: targets t of shape \(2,\)"):
        sigmoid_cross_entropy(p, [0, 1])


def test_binary_cross_entropy_outside_0_1_follows_numpy() -> None:
    with pytest.warns(RuntimeWarning):
        y = binary_cross_entropy(Variable(np.array([-0.5, 0.5])), [0, 1])
    assert np.isnan(y.data)


# ---------------------------------------------------------------------- dtypes and registry
def test_losses_preserve_float32() -> None:
    a, b = RNG.uniform(-1, 1, (3, 2)), RNG.uniform(-1, 1, (3, 2))
    assert_float32(mean_squared_error, [a, b])
    assert_float32(lambda v: softmax_cross_entropy(v, [0, 1, 1]), [a])
    assert_float32(lambda v: sigmoid_cross_entropy(v, np.ones((3, 2))), [a])
    assert_float32(lambda v: binary_cross_entropy(v, np.ones((3, 2))), [np.abs(a) / 2 + 0.2])


def test_losses_are_registered_at_order_3() -> None:
    registry = get_registry()
    for name in (
        "mean_squared_error",
        "softmax_cross_entropy",
        "sigmoid_cross_entropy",
        "binary_cross_entropy",
    ):
        assert registry.get(name).order == 3
        assert registry.provider(name).distribution == "dezero-ext-nn"
