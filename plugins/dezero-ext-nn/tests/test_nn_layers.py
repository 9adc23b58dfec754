"""Layer ops of dezero-ext-nn: linear, dropout, batch_norm, embed_id."""

from __future__ import annotations

import numpy as np
import pytest

import dezero_ext
from dezero_ext import Variable, get_registry
from dezero_ext_nn import batch_norm, dropout, embed_id, linear
from tests.oracle import assert_float32, assert_gradients

RNG = np.random.default_rng(5)


# ---------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4, 3), (3,), (2, 2, 3)])
def test_linear_values_and_gradients(x_shape: tuple[int, ...]) -> None:
    x, W, b = RNG.standard_normal(x_shape), RNG.standard_normal((3, 2)), RNG.standard_normal(2)
    np.testing.assert_allclose(linear(Variable(x), Variable(W), Variable(b)).data, x @ W + b)
    np.testing.assert_allclose(linear(Variable(x), Variable(W)).data, x @ W)
    assert_gradients(linear, [x, W, b])
    assert_gradients(lambda x, W: linear(x, W), [x, W])


def test_linear_shape_errors_name_both_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"linear: x of shape \(3, 4\) and W of shape \(5, 2\): inner dimensions 4 and 5 "
        "differ",
    ):
        linear(Variable(np.ones((3, 4))), Variable(np.ones((5, 2))))
    with pytest.raises(ValueError, match=r"linear: b of shape \(3,\) does not match W"):
        linear(Variable(np.ones((3, 4))), Variable(np.ones((4, 2))), Variable(np.ones(3)))
    with pytest.raises(ValueError, match=r"linear: W of shape \(4,\) must be 2-D"):
        linear(Variable(np.ones((3, 4))), Variable(np.ones(4)))


def test_linear_preserves_float32() -> None:
    assert_float32(linear, [np.ones((2, 3)), np.ones((3, 4)), np.ones(4)])


# ---------------------------------------------------------------------- dropout
def test_dropout_keeps_with_probability_1_minus_ratio_and_rescales() -> None:
    x = np.ones((200, 50))
    y = dropout(Variable(x), 0.3, seed=1).data
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7)


def test_dropout_mask_is_drawn_once_per_call_and_backward_uses_it() -> None:
    x = Variable(RNG.standard_normal((6, 7)))
    y = dropout(x, 0.5)
    y.backward()
    assert x.grad is not None
    mask = y.data != 0
    np.testing.assert_array_equal(x.grad.data != 0, mask)
    np.testing.assert_allclose(x.grad.data[mask], 2.0)
    other = dropout(Variable(np.ones((6, 7))), 0.5).data != 0
    assert (other != mask).any()  # a new call draws a new mask


def test_dropout_with_a_seed_is_reproducible_and_follows_np_random_seed() -> None:
    x = Variable(np.ones(100))
    np.testing.assert_array_equal(dropout(x, seed=3).data, dropout(x, seed=3).data)
    np.random.seed(0)
    a = dropout(x).data
    np.random.seed(0)
    np.testing.assert_array_equal(a, dropout(x).data)


def test_dropout_gradients_with_a_fixed_mask() -> None:
    assert_gradients(lambda v: dropout(v, 0.4, seed=9), [RNG.standard_normal((3, 4))])


def test_dropout_is_the_identity_in_test_mode() -> None:
    x = Variable(RNG.standard_normal((3, 3)))
    with dezero_ext.test_mode():
        y = dropout(x, 0.9)
        assert y is x
        from dezero_ext_nn.layer_ops import Dropout

        z = Dropout(0.9)(x)
        np.testing.assert_array_equal(z.data, x.data)
        z.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, np.ones((3, 3)))


def test_dropout_preserves_float32_and_checks_its_ratio() -> None:
    assert_float32(lambda v: dropout(v, 0.5, seed=0), [np.ones((4, 4))])
    with pytest.raises(ValueError, match=r"dropout: ratio 1.0 .* \[0, 1\)"):
        dropout(Variable(np.ones(2)), 1.0)
    with pytest.raises(ValueError, match=r"dropout: ratio -0\.1"):
        dropout(Variable(np.ones(2)), -0.1)


# ---------------------------------------------------------------------- batch_norm
def _np_batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    out: np.ndarray = gamma.reshape(shape) * (x - mean) / np.sqrt(var + eps) + beta.reshape(shape)
    return out


@pytest.mark.parametrize("x_shape", [(5, 3), (3, 2, 2, 2)])
def test_batch_norm_values_in_train_mode(x_shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(x_shape)
    gamma, beta = RNG.standard_normal(x_shape[1]), RNG.standard_normal(x_shape[1])
    y = batch_norm(Variable(x), Variable(gamma), Variable(beta))
    np.testing.assert_allclose(y.data, _np_batch_norm(x, gamma, beta, 2e-5), rtol=1e-12)


@pytest.mark.parametrize("x_shape", [(4, 2), (3, 2, 2), (2, 2, 1, 2)])
def test_batch_norm_gradients_to_second_order(x_shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(x_shape)
    gamma, beta = RNG.uniform(0.5, 2, x_shape[1]), RNG.standard_normal(x_shape[1])
    assert_gradients(
        lambda x, g, b: batch_norm(x, g, b, eps=1e-3), [x, gamma, beta], rtol=1e-5, atol=1e-6
    )


def test_batch_norm_second_derivative_differs_from_dezeros() -> None:
    """DeZero's backward treats the normalized input as a constant; the true second
    derivative of sum(batch_norm(x)**2 ...) w.r.t. x is not what that gives."""
    from tests.oracle import second_order

    x = RNG.standard_normal((4, 2))
    gamma, beta = np.ones(2), np.zeros(2)
    w = RNG.standard_normal((4, 2))
    vs = [RNG.standard_normal((4, 2)), np.zeros(2), np.zeros(2)]
    hv = second_order(lambda x, g, b: batch_norm(x, g, b), [x, gamma, beta], w, vs)[0]
    assert np.abs(hv).max() > 1e-3  # a constant-statistics backward would give exactly 0 here


def test_batch_norm_updates_running_statistics_in_train_mode_only() -> None:
    x = RNG.standard_normal((6, 3)) * 2 + 1
    gamma, beta = Variable(np.ones(3)), Variable(np.zeros(3))
    mean, var = np.zeros(3), np.ones(3)
    batch_norm(Variable(x), gamma, beta, mean, var, decay=0.9)
    np.testing.assert_allclose(mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    saved_mean, saved_var = mean.copy(), var.copy()
    x_test = RNG.standard_normal((2, 3))
    with dezero_ext.test_mode():
        y = batch_norm(Variable(x_test), gamma, beta, mean, var)
    np.testing.assert_array_equal(mean, saved_mean)  # not updated in test mode
    np.testing.assert_array_equal(var, saved_var)
    np.testing.assert_allclose(y.data, (x_test - mean) / np.sqrt(var + 2e-5), rtol=1e-12)


def test_batch_norm_test_mode_gradients() -> None:
    mean, var = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
    x = RNG.standard_normal((2, 3))
    gamma, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    with dezero_ext.test_mode():
        assert_gradients(lambda x, g, b: batch_norm(x, g, b, mean, var), [x, gamma, beta])


def test_batch_norm_errors() -> None:
    x = Variable(np.ones((4, 3)))
    one = Variable(np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: gamma of shape \(2,\) does not match"):
        batch_norm(x, Variable(np.ones(2)), one)
    with (
        pytest.raises(ValueError, match="test mode normalizes with running statistics"),
        dezero_ext.test_mode(),
    ):
        batch_norm(x, one, one)
    with pytest.raises(ValueError, match="more than one"):
        batch_norm(Variable(np.ones((1, 3))), one, one)
    with pytest.raises(ValueError, match=r"running_mean of shape \(2,\)"):
        batch_norm(x, one, one, np.zeros(2), np.ones(2))


def test_batch_norm_preserves_float32() -> None:
    x = RNG.standard_normal((4, 3))
    assert_float32(lambda x, g, b: batch_norm(x, g, b), [x, np.ones(3), np.zeros(3)])
    mean, var = np.zeros(3), np.ones(3)  # float64 statistics do not promote float32 data
    x32, g32, b32 = (Variable(a.astype(np.float32)) for a in (x, np.ones(3), np.zeros(3)))
    y = batch_norm(x32, g32, b32, mean, var)
    assert y.dtype == np.float32
    with dezero_ext.test_mode():
        assert_float32(lambda x, g, b: batch_norm(x, g, b, mean, var), [x, np.ones(3), np.zeros(3)])


# ---------------------------------------------------------------------- embed_id
def test_embed_id_picks_rows_and_scatter_adds_gradients() -> None:
    W = RNG.standard_normal((5, 3))
    ids = np.array([[0, 4], [4, 2]])
    w = Variable(W)
    y = embed_id(ids, w)
    np.testing.assert_array_equal(y.data, W[ids])
    y.backward()
    assert w.grad is not None
    np.testing.assert_array_equal(w.grad.data.sum(axis=1), [3, 0, 3, 0, 6])
    assert_gradients(lambda v: embed_id(ids, v), [W])
    assert_float32(lambda v: embed_id(ids, v), [W])


def test_embed_id_errors() -> None:
    W = Variable(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"embed_id: id 3 at index \(1,\) is out of range"):
        embed_id([0, 3], W)
    with pytest.raises(TypeError, match="embed_id: ids must be integers"):
        embed_id(np.array([0.0, 1.0]), W)


def test_layers_are_registered_at_order_3() -> None:
    registry = get_registry()
    for name in ("linear", "dropout", "batch_norm", "embed_id"):
        assert registry.get(name).order == 3
        assert registry.provider(name).distribution == "dezero-ext-nn"
