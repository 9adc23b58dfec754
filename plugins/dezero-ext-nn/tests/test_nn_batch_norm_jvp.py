"""batch_norm's forward-mode rule: proven by the checker in train mode (the batch's
statistics) and test mode (running statistics), a wrong rule caught and named, and its
forward-over-forward derivative against central differences of the first-order JVP."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dezero_ext import Variable, as_variable, func, test_mode
from dezero_ext.registry import get_registry
from dezero_ext.testing.jvpcheck import JvpCheckError, check_jvp
from dezero_ext_nn.layer_ops import BatchNorm, batch_norm

RNG = np.random.default_rng(7)


def _inputs(shape: tuple[int, ...], dtype: str) -> list[np.ndarray]:
    ramp = np.linspace(-2.0, 2.0, shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    x = RNG.uniform(-0.5, 0.5, shape) + ramp
    gamma, beta = RNG.uniform(-2, 2, shape[1]), RNG.uniform(-2, 2, shape[1])
    return [a.astype(dtype) for a in (x, gamma, beta)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(3, 2), (4, 3, 2), (2, 1, 2, 2)])
def test_the_rule_is_proven_in_train_and_test_mode(shape: tuple[int, ...], dtype: str) -> None:
    opdef = get_registry().get("batch_norm")
    assert opdef.jvp_rule == "native" and opdef.order == 3
    inputs = _inputs(shape, dtype)
    check_jvp(opdef, inputs, {"eps": 1e-3}, seed=11)
    stats = {"running_mean": RNG.uniform(-1, 1, shape[1]), "running_var": np.full(shape[1], 0.7)}
    with test_mode():
        check_jvp(opdef, inputs, {"eps": 1e-3, **stats}, seed=12)


class _NoVarianceTerm(BatchNorm):
    """A wrong rule: the batch mean moves with x, the batch variance is taken as constant."""

    def jvp(
        self, tx: Variable | None, tgamma: Variable | None, tbeta: Variable | None
    ) -> Variable | None:
        gamma = self.inputs[1]
        assert tx is not None and tgamma is not None and tbeta is not None
        txhat = (tx - tx.mean(axis=self.axes, keepdims=True)) * Variable(self.inv_std)
        bshape = self.bshape
        xhat = Variable(self.xhat)
        return gamma.reshape(bshape) * txhat + tgamma.reshape(bshape) * xhat + tbeta.reshape(bshape)

    jvp_array = None  # type: ignore[assignment]  # no fast path: the mutant's jvp is what runs


def test_a_wrong_rule_is_caught_and_named_jvp() -> None:
    opdef = replace(get_registry().get("batch_norm"), function=_NoVarianceTerm, order=1)
    with pytest.raises(JvpCheckError) as caught:
        check_jvp(opdef, _inputs((4, 3), "float64"), {}, seed=13)
    assert caught.value.side == "jvp"
    assert "_NoVarianceTerm.jvp" in str(caught.value)


def test_forward_over_forward_matches_central_differences() -> None:
    x, gamma, beta = _inputs((4, 3), "float64")
    v = RNG.normal(size=x.shape)

    def first(z: np.ndarray) -> Variable:
        # a Variable inside the outer jvp (as_variable types it), an array at the top level
        return as_variable(func.jvp(lambda a: batch_norm(a, gamma, beta), (z,), (v,))[1])

    _, second = func.jvp(first, (x,), (v,))
    h = 1e-5
    numeric = (first(x + h * v).data - first(x - h * v).data) / (2 * h)
    np.testing.assert_allclose(second, numeric, rtol=1e-6, atol=1e-6)
