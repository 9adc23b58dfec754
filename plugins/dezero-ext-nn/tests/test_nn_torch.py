"""Cross-check of dezero-ext-nn against PyTorch in float64: forward values, gradients and
second derivatives (Hessian-vector products) on random inputs. Skipped without torch.

``dropout`` is left out: its mask comes from a different random generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import dezero_ext
from dezero_ext import Variable
from dezero_ext_nn import (
    batch_norm,
    binary_cross_entropy,
    embed_id,
    leaky_relu,
    linear,
    log_softmax,
    mean_squared_error,
    relu,
    sigmoid,
    sigmoid_cross_entropy,
    softmax,
    softmax_cross_entropy,
)
from tests.oracle import first_order, second_order

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(2024)
Ours = Callable[..., Variable]
Theirs = Callable[..., Any]


def _torch_derivatives(
    fn: Theirs, arrays: Sequence[np.ndarray], w: np.ndarray, vs: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y = fn(*ts)
    loss = (y * torch.tensor(w)).sum()
    grads = torch.autograd.grad(loss, ts, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(ts, grads, strict=True)]
    directional = sum((g * torch.tensor(v)).sum() for g, v in zip(grads, vs, strict=True))
    if directional.requires_grad:
        hvs = torch.autograd.grad(directional, ts, allow_unused=True)
    else:  # the gradient does not depend on the inputs: the second derivative is 0
        hvs = [None] * len(ts)
    second = [
        np.zeros(a.shape) if h is None else h.detach().numpy()
        for a, h in zip(arrays, hvs, strict=True)
    ]
    first = [g.detach().numpy() for g in grads]
    return y.detach().numpy(), first, second


def compare(ours: Ours, theirs: Theirs, arrays: Sequence[np.ndarray]) -> None:
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    y = ours(*[Variable(a) for a in arrays])
    w = RNG.standard_normal(y.shape)
    vs = [RNG.standard_normal(a.shape) for a in arrays]
    t_y, t_first, t_second = _torch_derivatives(theirs, arrays, w, vs)
    np.testing.assert_allclose(y.data, t_y, rtol=1e-10, atol=1e-12, err_msg="forward")
    for i, (a, b) in enumerate(zip(first_order(ours, arrays, w), t_first, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"gradient {i}")
    for i, (a, b) in enumerate(zip(second_order(ours, arrays, w, vs), t_second, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"second order {i}")


def test_elementwise_activations_match_torch() -> None:
    x = RNG.uniform(-3, 3, (4, 5))
    compare(sigmoid, torch.sigmoid, [x])
    compare(relu, torch.relu, [x])
    compare(lambda v: leaky_relu(v, 0.2), lambda t: F.leaky_relu(t, 0.2), [x])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax_match_torch(axis: int) -> None:
    x = RNG.uniform(-3, 3, (4, 5))
    compare(lambda v: softmax(v, axis), lambda t: torch.softmax(t, axis), [x])
    compare(lambda v: log_softmax(v, axis), lambda t: torch.log_softmax(t, axis), [x])


def test_linear_matches_torch() -> None:
    x, W, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 5)), RNG.standard_normal(5)
    compare(linear, lambda x, W, b: F.linear(x, W.T, b), [x, W, b])
    compare(lambda x, W: linear(x, W), lambda x, W: F.linear(x, W.T), [x, W])


def test_losses_match_torch() -> None:
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    compare(mean_squared_error, F.mse_loss, [a, b])
    t = np.array([2, 0, 1, 1])
    compare(
        lambda v: softmax_cross_entropy(v, t), lambda x: F.cross_entropy(x, torch.tensor(t)), [a]
    )
    x3 = RNG.standard_normal((2, 4, 3))
    t3 = np.array([[0, 3, 1], [2, 2, 0]])
    compare(
        lambda v: softmax_cross_entropy(v, t3),
        lambda x: F.cross_entropy(x, torch.tensor(t3)),
        [x3],
    )
    targets = np.array([[0, 1, 0.25], [1, 1, 0], [0.5, 0, 1], [0, 0, 1]])
    compare(
        lambda v: sigmoid_cross_entropy(v, targets),
        lambda x: F.binary_cross_entropy_with_logits(x, torch.tensor(targets)),
        [a],
    )
    p = RNG.uniform(0.05, 0.95, (4, 3))
    compare(
        lambda v: binary_cross_entropy(v, targets),
        lambda x: F.binary_cross_entropy(x, torch.tensor(targets)),
        [p],
    )


@pytest.mark.parametrize("x_shape", [(5, 3), (3, 2, 2, 3)])
def test_batch_norm_matches_torch_to_second_order(x_shape: tuple[int, ...]) -> None:
    channels = x_shape[1]
    x = RNG.standard_normal(x_shape) * 1.5 + 0.5
    gamma, beta = RNG.uniform(0.5, 2, channels), RNG.standard_normal(channels)
    eps = 1e-3
    compare(
        lambda x, g, b: batch_norm(x, g, b, eps=eps),
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=eps),
        [x, gamma, beta],
    )
    # running statistics: our decay is 1 - torch's momentum; both keep the unbiased variance
    mean, var = np.zeros(channels), np.ones(channels)
    t_mean = torch.zeros(channels, dtype=torch.float64)
    t_var = torch.ones(channels, dtype=torch.float64)
    batch_norm(Variable(x), Variable(gamma), Variable(beta), mean, var, decay=0.8, eps=eps)
    F.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.2, eps=eps)
    np.testing.assert_allclose(mean, t_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, t_var.numpy(), rtol=1e-12)
    with dezero_ext.test_mode():
        compare(
            lambda x, g, b: batch_norm(x, g, b, mean, var, eps=eps),
            lambda x, g, b: F.batch_norm(x, t_mean, t_var, g, b, training=False, eps=eps),
            [x, gamma, beta],
        )


def test_embed_id_matches_torch() -> None:
    W = RNG.standard_normal((6, 3))
    ids = np.array([[1, 5, 1], [0, 5, 5]])
    compare(lambda v: embed_id(ids, v), lambda w: F.embedding(torch.tensor(ids), w), [W])
