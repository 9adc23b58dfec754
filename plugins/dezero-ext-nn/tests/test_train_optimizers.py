"""Optimizers and hooks (dezero_ext_nn.optimizers): each update rule against its formula over
several steps, against torch.optim where both define the same rule (skipped without torch),
float32 kept, hooks, and parameters rebound rather than written into."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Array, Parameter, Variable
from dezero_ext_nn import optimizers
from dezero_ext_nn.layers import Linear
from dezero_ext_nn.models import MLP

STEPS = 5


class Params:
    """A minimal target: two parameters with given gradients at each step."""

    def __init__(
        self, dtype: type = np.float64, seed: int = 0, grad_dtype: type | None = None
    ) -> None:
        rng = np.random.default_rng(seed)
        self.start: list[Array] = [
            rng.standard_normal((3, 2)).astype(dtype),
            rng.standard_normal(4).astype(dtype),
        ]
        self.p = [Parameter(a.copy()) for a in self.start]
        self.grads: list[list[Array]] = [
            [rng.standard_normal(a.shape).astype(grad_dtype or dtype) for a in self.start]
            for _ in range(STEPS)
        ]

    def params(self) -> Iterator[Parameter]:
        yield from self.p

    def run(self, optimizer: optimizers.Optimizer) -> list[Array]:
        optimizer.setup(self)
        for step in range(STEPS):
            for param, g in zip(self.p, self.grads[step], strict=True):
                param.grad = Variable(g.copy())
            optimizer.update()
        return [p.data for p in self.p]


Rule = Callable[[Array, list[Array], dict[str, Array]], Array]
"""One step of the formula: (param, [gradient], state) -> new param."""


def _sgd(p: Array, g: list[Array], s: dict[str, Array]) -> Array:
    return p - 0.1 * g[0]


def _momentum(p: Array, g: list[Array], s: dict[str, Array]) -> Array:
    s["v"] = 0.8 * s.get("v", np.zeros_like(p)) - 0.1 * g[0]
    return p + s["v"]


def _adagrad(p: Array, g: list[Array], s: dict[str, Array]) -> Array:
    s["h"] = s.get("h", np.zeros_like(p)) + g[0] ** 2
    return p - 0.1 * g[0] / (np.sqrt(s["h"]) + 1e-3)


def _adadelta(p: Array, g: list[Array], s: dict[str, Array]) -> Array:
    msg = 0.9 * s.get("msg", np.zeros_like(p)) + 0.1 * g[0] ** 2
    msdx = s.get("msdx", np.zeros_like(p))
    dx: Array = np.sqrt((msdx + 1e-3) / (msg + 1e-3)) * g[0]
    s["msg"], s["msdx"] = msg, 0.9 * msdx + 0.1 * dx**2
    return p - dx


def _adam(p: Array, g: list[Array], s: dict[str, Array]) -> Array:
    t = int(s.get("t", np.array(0))) + 1
    m = s.get("m", np.zeros_like(p))
    v = s.get("v", np.zeros_like(p))
    m = m + (1 - 0.8) * (g[0] - m)
    v = v + (1 - 0.9) * (g[0] ** 2 - v)
    s["t"], s["m"], s["v"] = np.array(t), m, v
    lr = 0.01 * math.sqrt(1 - 0.9**t) / (1 - 0.8**t)
    return p - lr * m / (np.sqrt(v) + 1e-3)


CASES: list[tuple[str, Callable[[], optimizers.Optimizer], Rule]] = [
    ("SGD", lambda: optimizers.SGD(lr=0.1), _sgd),
    ("MomentumSGD", lambda: optimizers.MomentumSGD(lr=0.1, momentum=0.8), _momentum),
    ("AdaGrad", lambda: optimizers.AdaGrad(lr=0.1, eps=1e-3), _adagrad),
    ("AdaDelta", lambda: optimizers.AdaDelta(rho=0.9, eps=1e-3), _adadelta),
    ("Adam", lambda: optimizers.Adam(alpha=0.01, beta1=0.8, beta2=0.9, eps=1e-3), _adam),
]


@pytest.mark.parametrize(("name", "make", "rule"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_follows_its_formula_over_several_steps(
    name: str, make: Callable[[], optimizers.Optimizer], rule: Rule
) -> None:
    target = Params()
    got = target.run(make())
    for i, start in enumerate(target.start):
        expected, state = start.copy(), dict[str, Array]()
        for step in range(STEPS):
            expected = rule(expected, [target.grads[step][i]], state)
        np.testing.assert_allclose(got[i], expected, rtol=1e-12, atol=1e-14, err_msg=name)


def test_defaults_are_deZeros() -> None:
    assert optimizers.SGD().lr == 0.01
    momentum = optimizers.MomentumSGD()
    assert (momentum.lr, momentum.momentum) == (0.01, 0.9)
    adagrad = optimizers.AdaGrad()
    assert (adagrad.lr, adagrad.eps) == (0.001, 1e-8)
    adadelta = optimizers.AdaDelta()
    assert (adadelta.rho, adadelta.eps) == (0.95, 1e-6)
    adam = optimizers.Adam()
    assert (adam.alpha, adam.beta1, adam.beta2, adam.eps) == (0.001, 0.9, 0.999, 1e-8)


@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "make", "rule"), CASES, ids=[c[0] for c in CASES])
def test_float32_parameters_and_state_stay_float32(
    name: str, make: Callable[[], optimizers.Optimizer], rule: Rule, grad_dtype: type
) -> None:
    # float64 gradients too: a gradient set by hand, or by a hook, may come in float64
    target = Params(np.float32, grad_dtype=grad_dtype)
    optimizer = make()
    for key, value in list(vars(optimizer).items()):
        if isinstance(value, float):  # hyperparameters as NumPy scalars, as a schedule may set
            setattr(optimizer, key, np.float64(value))
    got = target.run(optimizer)
    assert all(a.dtype == np.float32 for a in got), name
    for store in vars(optimizer).values():
        if hasattr(store, "values"):
            for state in store.values():
                arrays = [state] if isinstance(state, np.ndarray) else [state.m, state.v]
                assert all(a.dtype == np.float32 for a in arrays), name


def test_a_float32_model_trains_in_float32_on_float64_data() -> None:
    # DeZero's float32 layers computed in float64 as soon as the data was float64.
    model = MLP((4, 3))
    optimizer = optimizers.Adam().setup(model)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, t = rng.standard_normal((5, 2)), rng.integers(0, 3, 5)  # float64 data
        loss = F.softmax_cross_entropy(model(x), t)
        assert loss.dtype == np.float32
        model.cleargrads()
        loss.backward()
        assert all(p.grad is not None and p.grad.dtype == np.float32 for p in model.params())
        optimizer.update()
    assert all(p.dtype == np.float32 for p in model.params())
    assert all(s.m.dtype == s.v.dtype == np.float32 for s in optimizer.moments.values())


def test_parameters_are_rebound_not_written_into() -> None:
    target = Params()
    before = [p.data for p in target.p]
    copies = [a.copy() for a in before]
    target.run(optimizers.Adam())
    for old, copy in zip(before, copies, strict=True):
        np.testing.assert_array_equal(old, copy)


def test_setup_returns_the_optimizer_and_update_needs_it() -> None:
    optimizer = optimizers.SGD()
    with pytest.raises(RuntimeError, match="call setup"):
        optimizer.update()
    layer = Linear(2, in_size=2)
    assert optimizer.setup(layer) is optimizer
    with pytest.raises(TypeError, match="has no params"):
        optimizer.setup(3)  # type: ignore[arg-type]  # the bad input tested
    with pytest.raises(TypeError, match="not callable"):
        optimizer.add_hook(3)  # type: ignore[arg-type]  # the bad input tested


def test_parameters_without_gradient_are_left_alone() -> None:
    target = Params()
    optimizer = optimizers.MomentumSGD().setup(target)
    target.p[0].grad = Variable(np.ones((3, 2)))
    optimizer.update()
    np.testing.assert_array_equal(target.p[1].data, target.start[1])
    assert target.p[1] not in optimizer.vs


def test_a_parameter_that_changes_shape_is_an_error() -> None:
    target = Params()
    optimizer = optimizers.Adam().setup(target)
    target.p[0].grad = Variable(np.ones((3, 2)))
    optimizer.update()
    target.p[0].data = np.zeros(5)
    target.p[0].grad = Variable(np.ones(5))
    with pytest.raises(ValueError, match=r"changed from \(3, 2\) float64 to \(5,\) float64"):
        optimizer.update()


# ---------------------------------------------------------------------- hooks
def test_weight_decay_adds_rate_times_parameter() -> None:
    target = Params()
    optimizer = optimizers.SGD(lr=0.1)
    optimizer.add_hook(optimizers.WeightDecay(0.5))
    got = target.run(optimizer)
    expected = target.start[0].copy()
    for step in range(STEPS):
        expected = expected - 0.1 * (target.grads[step][0] + 0.5 * expected)
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)


def test_clip_grad_scales_the_global_norm_down_to_max_norm() -> None:
    target = Params()
    seen: list[float] = []
    optimizer = optimizers.SGD(lr=1.0)
    optimizer.add_hook(optimizers.ClipGrad(1.0))
    optimizer.add_hook(
        lambda params: seen.append(
            math.sqrt(sum(float(np.sum(p.grad.data**2)) for p in params if p.grad is not None))
        )
    )
    target.run(optimizer)
    assert len(seen) == STEPS  # the hook ran at every step (all() of nothing is True)
    assert all(abs(norm - 1.0) < 1e-5 for norm in seen)  # the raw norms are about 3
    small = Params()
    small.grads = [[g * 1e-3 for g in grads] for grads in small.grads]
    clip = optimizers.SGD(lr=1.0)
    clip.add_hook(optimizers.ClipGrad(1.0))
    got = small.run(clip)
    expected = small.start[0] - sum(grads[0] for grads in small.grads)
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)  # below max_norm: untouched


def test_freeze_param_keeps_layers_fixed_and_later_hooks_work() -> None:
    # DeZero's FreezeParam left None gradients in the list: update_one crashed on them.
    model_a, model_b = Linear(2, in_size=2), Linear(2, in_size=2)

    class Both:
        def params(self) -> Iterator[Parameter]:
            yield from model_a.params()
            yield from model_b.params()

    optimizer = optimizers.SGD(lr=0.1).setup(Both())
    optimizer.add_hook(optimizers.FreezeParam(model_a, model_b.W))
    optimizer.add_hook(optimizers.WeightDecay(0.1))
    frozen = [model_a.W.data.copy(), model_b.W.data.copy()]
    for p in [*model_a.params(), *model_b.params()]:
        p.grad = Variable(np.ones_like(p.data))
    optimizer.update()
    np.testing.assert_array_equal(model_a.W.data, frozen[0])
    np.testing.assert_array_equal(model_b.W.data, frozen[1])
    assert model_b.b is not None
    np.testing.assert_allclose(model_b.b.data, -0.1 * np.ones(2))
    with pytest.raises(TypeError, match="neither a Parameter nor a layer"):
        optimizers.FreezeParam(3)  # type: ignore[arg-type]  # the bad input tested


def test_adam_counts_steps_per_parameter() -> None:
    # A parameter frozen for two updates starts its bias correction at its own first step:
    # with a constant gradient its first move is alpha, as for any parameter's first move.
    target = Params()
    optimizer = optimizers.Adam(alpha=0.01, eps=0.0).setup(target)
    freeze = optimizers.FreezeParam(target.p[1])
    optimizer.add_hook(freeze)
    for _ in range(2):
        for p in target.p:
            p.grad = Variable(np.ones_like(p.data))
        optimizer.update()
    optimizer.hooks.remove(freeze)
    for p in target.p:
        p.grad = Variable(np.ones_like(p.data))
    optimizer.update()
    np.testing.assert_allclose(target.p[1].data, target.start[1] - 0.01, rtol=1e-12)
    assert optimizer.t == 3
    assert optimizer.lr == pytest.approx(0.01 * math.sqrt(1 - 0.999**3) / (1 - 0.9**3))


# ---------------------------------------------------------------------- against torch.optim
TORCH_CASES = [
    ("SGD", lambda: optimizers.SGD(lr=0.1), "SGD", {"lr": 0.1}),
    (
        "MomentumSGD",
        lambda: optimizers.MomentumSGD(lr=0.1, momentum=0.8),
        "SGD",
        {"lr": 0.1, "momentum": 0.8},
    ),
    ("AdaGrad", lambda: optimizers.AdaGrad(lr=0.1, eps=1e-3), "Adagrad", {"lr": 0.1, "eps": 1e-3}),
    (
        "AdaDelta",
        lambda: optimizers.AdaDelta(rho=0.9, eps=1e-3),
        "Adadelta",
        {"lr": 1.0, "rho": 0.9, "eps": 1e-3},
    ),
    # PyTorch adds eps after the bias correction, DeZero before: the same rule with eps = 0.
    (
        "Adam",
        lambda: optimizers.Adam(alpha=0.01, beta1=0.8, beta2=0.9, eps=0.0),
        "Adam",
        {"lr": 0.01, "betas": (0.8, 0.9), "eps": 0.0},
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "torch_name", "kwargs"), TORCH_CASES, ids=[c[0] for c in TORCH_CASES]
)
def test_same_trajectory_as_torch_optim(
    name: str, make: Callable[[], optimizers.Optimizer], torch_name: str, kwargs: dict[str, object]
) -> None:
    torch = pytest.importorskip("torch")
    target = Params()
    got = target.run(make())
    tensors = [torch.tensor(a.copy(), requires_grad=True) for a in target.start]
    reference = getattr(torch.optim, torch_name)(tensors, **kwargs)
    for step in range(STEPS):
        for tensor, g in zip(tensors, target.grads[step], strict=True):
            tensor.grad = torch.tensor(g.copy())
        reference.step()
    for mine, theirs in zip(got, tensors, strict=True):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_hooks_match_torch_weight_decay_and_clip_grad_norm() -> None:
    torch = pytest.importorskip("torch")
    target = Params()
    optimizer = optimizers.MomentumSGD(lr=0.1, momentum=0.8)
    optimizer.add_hook(optimizers.ClipGrad(1.0))
    optimizer.add_hook(optimizers.WeightDecay(0.3))
    got = target.run(optimizer)
    tensors = [torch.tensor(a.copy(), requires_grad=True) for a in target.start]
    reference = torch.optim.SGD(tensors, lr=0.1, momentum=0.8, weight_decay=0.3)
    for step in range(STEPS):
        for tensor, g in zip(tensors, target.grads[step], strict=True):
            tensor.grad = torch.tensor(g.copy())
        torch.nn.utils.clip_grad_norm_(tensors, 1.0)
        reference.step()
    for mine, theirs in zip(got, tensors, strict=True):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
