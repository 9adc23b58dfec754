"""``optimizers.TrainStep``: a traced training step (forward, backward and the update as one
replayed program) leaves every parameter, gradient and loss exactly as the eager step
``model.cleargrads(); loss = loss_fn(x, t); loss.backward(); optimizer.update()`` does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Array, Parameter, Variable, detect_anomaly
from dezero_ext_nn import layers, models, optimizers

Make = Callable[[], optimizers.Optimizer]
RULES: dict[str, Make] = {
    "sgd": lambda: optimizers.SGD(0.1),
    "momentum": lambda: optimizers.MomentumSGD(0.1),
    "adam": lambda: optimizers.Adam(0.01),
    "adam+hooks": lambda: _hooked(optimizers.Adam(0.01)),
}


def _hooked(optimizer: optimizers.Optimizer) -> optimizers.Optimizer:
    optimizer.add_hook(optimizers.WeightDecay(0.01))
    optimizer.add_hook(optimizers.ClipGrad(0.5))
    return optimizer


def _pair(make: Make, dtype: type) -> tuple[list[models.MLP], list[optimizers.Optimizer]]:
    pair = []
    for _ in range(2):
        model = models.MLP((7, 3))
        model(np.zeros((1, 4), dtype=dtype))
        pair.append(model)
    for a, b in zip(pair[0].params(), pair[1].params(), strict=True):
        b.data = a.data.copy()
    return pair, [make().setup(m) for m in pair]


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_traced_step_updates_as_the_eager_step(rule: str, dtype: type) -> None:
    (eager, traced), (opt_e, opt_t) = _pair(RULES[rule], dtype)
    step = optimizers.TrainStep(lambda x, t: F.softmax_cross_entropy(traced(x), t), opt_t)
    rng = np.random.default_rng(0)
    for i in range(6):
        n = 5 if i < 4 else 3  # a smaller last batch: a new shape, traced again
        x: Array = rng.normal(size=(n, 4)).astype(dtype)
        t = rng.integers(0, 3, size=n)
        eager.cleargrads()
        want = F.softmax_cross_entropy(eager(x), t)
        want.backward()
        opt_e.update()
        got = step(x, t)
        assert got.data.dtype == want.data.dtype and float(got.data) == float(want.data)
        for p, q in zip(eager.params(), traced.params(), strict=True):
            np.testing.assert_array_equal(q.data, p.data)
            assert p.grad is not None and q.grad is not None
            np.testing.assert_array_equal(q.grad.data, p.grad.data)
    assert step.traced.traces == 2


def test_a_step_never_writes_into_arrays_the_caller_holds() -> None:
    model = models.MLP((5, 2))
    model(np.zeros((1, 3)))
    step = optimizers.TrainStep(
        lambda x, t: F.softmax_cross_entropy(model(x), t), optimizers.Adam(0.1).setup(model)
    )
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(4, 3)), rng.integers(0, 2, size=4)
    held = [p.data for p in model.params()]
    copies = [a.copy() for a in held]
    losses = [step(x, t) for _ in range(3)]
    grads = [p.grad.data for p in model.params() if p.grad is not None]
    grad_copies = [g.copy() for g in grads]
    losses += [step(x, t)]
    x_copy, t_copy = x.copy(), t.copy()
    for a, b in zip(held, copies, strict=True):
        np.testing.assert_array_equal(a, b)  # the old parameters: rebound, not written
    for a, b in zip(grads, grad_copies, strict=True):
        np.testing.assert_array_equal(a, b)  # an earlier step's gradients
    assert len({id(loss.data) for loss in losses}) == 4  # each step's own loss array
    assert float(losses[0].data) > float(losses[-1].data)  # it learns
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(t, t_copy)


def test_parameters_the_loss_does_not_read_lose_their_gradient_and_stay() -> None:
    class Two(models.Model):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = layers.Linear(2), layers.Linear(2)

        def forward(self, x: Variable | Array) -> Variable:
            return self.used(x)

    model = Two()
    model.unused(np.zeros((1, 3)))
    frozen = [p.data.copy() for p in model.unused.params()]
    for p in model.unused.params():
        p.grad = Variable(np.ones_like(p.data))  # stale: cleargrads() would drop it
    step = optimizers.TrainStep(
        lambda x, t: F.softmax_cross_entropy(model(x), t), optimizers.SGD(0.1).setup(model)
    )
    step(np.ones((2, 3)), np.array([0, 1]))
    for p, a in zip(model.unused.params(), frozen, strict=True):
        assert p.grad is None
        np.testing.assert_array_equal(p.data, a)
    assert all(p.grad is not None for p in model.used.params())


def test_under_detect_anomaly_the_step_runs_eagerly() -> None:
    (eager, traced), (opt_e, opt_t) = _pair(RULES["adam"], np.float64)
    step = optimizers.TrainStep(lambda x, t: F.softmax_cross_entropy(traced(x), t), opt_t)
    x, t = np.ones((2, 4)), np.array([0, 2])
    with detect_anomaly():
        loss = step(x, t)
    assert loss.creator is not None  # the eager step's loss, with its graph
    eager.cleargrads()
    F.softmax_cross_entropy(eager(x), t).backward()
    opt_e.update()
    for p, q in zip(eager.params(), traced.params(), strict=True):
        np.testing.assert_array_equal(q.data, p.data)


def test_a_step_needs_an_optimizer_with_a_target() -> None:
    with pytest.raises(RuntimeError, match=r"call optimizer.setup\(model\) first"):
        optimizers.TrainStep(lambda x: Parameter(x), optimizers.SGD())
