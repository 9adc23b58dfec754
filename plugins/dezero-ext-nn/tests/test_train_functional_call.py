"""``dezero_ext.func.functional_call`` with the nn toolkit: a model's parameters as an explicit
argument of a transformed function (``torch.func.functional_call``)."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext import func as F  # noqa: N812  # torch.func's usual alias
from dezero_ext_nn.layers import Linear
from dezero_ext_nn.models import MLP

RNG = np.random.default_rng(3)
X = RNG.normal(size=(5, 3))


def _model() -> MLP:
    model = MLP((4, 2), dtype=np.float64)
    model(X)  # builds the lazy parameters
    return model


def _linear(model: MLP, i: int) -> Linear:
    layer = model.layers[i]
    assert isinstance(layer, Linear)
    return layer


def test_the_gradient_over_the_parameters_matches_backward() -> None:
    model = _model()
    W = _linear(model, 0).W.data.copy()

    def loss(w: Variable) -> Variable:
        return (F.functional_call(model, {"l0/W": w}, X) ** 2).sum()

    g = F.grad(loss)(W)
    assert _linear(model, 0).W.grad is None  # no grad changes
    model.cleargrads()
    (model(X) ** 2).sum().backward()
    gw = _linear(model, 0).W.grad
    assert gw is not None
    np.testing.assert_allclose(g, gw.data, rtol=1e-12)
    # the model's own parameter is back, and another value changes the output
    assert np.array_equal(_linear(model, 0).W.data, W)
    shifted = F.functional_call(model, {"l0/W": W + 1.0}, X)
    assert not np.allclose(shifted.data, model(X).data)


def test_hessian_over_a_parameter_and_an_unknown_name() -> None:
    model = _model()
    bias0 = _linear(model, 1).b
    assert bias0 is not None
    b = bias0.data.copy()

    def loss(bias: Variable) -> Variable:
        return (F.functional_call(model, {"l1/b": bias}, X) ** 2).sum()

    h = F.hessian(loss)(b)
    np.testing.assert_allclose(h, 2 * X.shape[0] * np.eye(b.size), atol=1e-12)
    with pytest.raises(KeyError, match="no parameter 'l9/W'; its parameters are l0/W"):
        F.functional_call(model, {"l9/W": b}, X)
