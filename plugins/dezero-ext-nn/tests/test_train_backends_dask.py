"""The spiral MLP trained on NumPy, array-api-strict and Dask arrays (issue 23, item 1): the
same losses to 1e-12 in float64, and no Dask graph computed before the user asks for the
losses (then one computation for all of them). Parameters, batches and gradients stay in
their library; the update is the book's ``p.data = p.data - lr * p.grad.data``. Needs
``pip install -e '.[dask,array-api]'`` from the repository root (CI's step 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dezero_ext import Operand, Variable
from dezero_ext_nn import functions as F  # noqa: N812 - DeZero's alias
from dezero_ext_nn.datasets import get_spiral
from tests.foreign_arrays import FOREIGN, count_computes, to_backend, to_numpy

pytest.importorskip("array_api_strict")
dask = pytest.importorskip("dask")

EPOCHS, BATCH, HIDDEN, LR = 1, 30, 10, 1.0


def _train(backend: str, activation: Callable[[Operand], Variable]) -> list[Any]:
    """The losses of each step of a 2-layer MLP on the spiral, as arrays of ``backend``."""
    x, t = get_spiral()
    rng = np.random.default_rng(0)
    shapes = [(2, HIDDEN), (HIDDEN,), (HIDDEN, 3), (3,)]
    params = [Variable(to_backend(backend, rng.normal(0, 0.5, s))) for s in shapes]
    losses = []
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            index = order[start : start + BATCH]
            xb, tb = to_backend(backend, x[index]), to_backend(backend, t[index])
            w1, b1, w2, b2 = params
            h = activation(F.linear(xb, w1, b1))
            loss = F.softmax_cross_entropy(F.linear(h, w2, b2), tb)
            for p in params:
                p.cleargrad()
            loss.backward()
            for p in params:
                assert p.grad is not None
                p.data = p.data - LR * p.grad.data
            losses.append(loss.data)
    return losses


@pytest.mark.parametrize("activation", [F.sigmoid, F.relu], ids=["sigmoid", "relu"])
@pytest.mark.parametrize("backend", FOREIGN)
def test_the_spiral_mlp_learns_the_same_on_every_backend(
    backend: str, activation: Callable[[Operand], Variable]
) -> None:
    expected = [float(v) for v in _train("numpy", activation)]
    assert expected[-1] < 0.8 * expected[0]  # it learns
    with count_computes() as computes:
        losses = _train(backend, activation)
        assert computes.count == 0  # nothing computed before the losses are asked for
        if backend == "dask":
            losses = list(dask.compute(*losses))
            assert computes.count == 1  # all of them in one computation
    got = [float(to_numpy(v)) for v in losses]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
