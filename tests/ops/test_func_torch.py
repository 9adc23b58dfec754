"""``dezero_ext.func`` against ``torch.func`` (skipped without torch): grad, vjp, jvp, jacrev,
jacfwd and hessian agree in float64 to 1e-10 on functions with broadcasting, reductions,
matmul, indexing, conv2d and a small MLP, and on a function returning a tuple."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dezero_ext import Array, Variable, ops
from dezero_ext import func as F  # noqa: N812  # torch.func's usual alias

torch: Any = pytest.importorskip("torch")
tfunc: Any = pytest.importorskip("torch.func")

from dezero_ext_math import tanh  # noqa: E402 - after the skip
from dezero_ext_nn import functions as nnf  # noqa: E402

RNG = np.random.default_rng(20)
B = RNG.uniform(0.5, 1.5, size=(3,))
W = RNG.normal(size=(3, 4))
W1, B1 = RNG.normal(size=(3, 5)) / 2, RNG.normal(size=(5,)) / 2
W2, B2 = RNG.normal(size=(5, 2)) / 2, RNG.normal(size=(2,)) / 2
K = RNG.normal(size=(2, 1, 3, 3)) / 3


def _t(a: Array) -> Any:
    return torch.tensor(a, dtype=torch.float64)


# each case: (dezero_ext function of a Variable, the same in torch, the input's shape)
CASES: dict[str, tuple[Callable[[Variable], Variable], Callable[[Any], Any], tuple[int, ...]]] = {
    "broadcasting": (
        lambda x: (x * B + 1.0) ** 2 / (x * x + 1.0),
        lambda x: (x * _t(B) + 1.0) ** 2 / (x * x + 1.0),
        (2, 3),
    ),
    "reductions": (
        lambda x: ops.exp(x).sum(axis=1) * x.mean(axis=0).sum() + x.max(axis=1),
        lambda x: torch.exp(x).sum(dim=1) * x.mean(dim=0).sum() + x.amax(dim=1),
        (2, 3),
    ),
    "matmul": (
        lambda x: (x @ W) * (x @ W) + x.T @ x @ W,
        lambda x: (x @ _t(W)) * (x @ _t(W)) + x.T @ x @ _t(W),
        (3, 3),
    ),
    "indexing": (
        lambda x: x[[0, 2, 0], 1:] * x[1, ::-1][1:] + x[..., 0:1] ** 3,
        lambda x: x[[0, 2, 0], 1:] * x[1].flip(0)[1:] + x[..., 0:1] ** 3,
        (3, 3),
    ),
    "mlp": (
        lambda x: tanh(x @ W1 + B1) @ W2 + B2,
        lambda x: torch.tanh(x @ _t(W1) + _t(B1)) @ _t(W2) + _t(B2),
        (4, 3),
    ),
    "conv2d": (
        lambda x: nnf.conv2d(x, K, stride=1, pad=1),
        lambda x: torch.nn.functional.conv2d(x, _t(K), stride=1, padding=1),
        (1, 1, 3, 3),
    ),
}


def _scalar(f: Callable[[Variable], Variable]) -> Callable[[Variable], Variable]:
    def g(x: Variable) -> Variable:
        y = f(x)
        return (y * y).sum()

    return g


def _scalar_torch(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: (f(x) * f(x)).sum()


def _close(ours: Array, theirs: Any) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", list(CASES))
def test_grad_vjp_jvp(case: str) -> None:
    f, tf, shape = CASES[case]
    x = RNG.uniform(-1.5, 1.5, size=shape)
    _close(F.grad(_scalar(f))(x), tfunc.grad(_scalar_torch(tf))(_t(x)))
    out, pull = F.vjp(f, x)
    t_out, t_pull = tfunc.vjp(tf, _t(x))
    _close(out, t_out)
    u = RNG.normal(size=out.shape)
    _close(pull(u)[0], t_pull(_t(u))[0])
    v = RNG.normal(size=shape)
    y, tangent = F.jvp(f, (x,), (v,))
    t_y, t_tangent = tfunc.jvp(tf, (_t(x),), (_t(v),))
    _close(y, t_y)
    _close(tangent, t_tangent)


@pytest.mark.parametrize("case", list(CASES))
def test_jacobians_and_hessian(case: str) -> None:
    f, tf, shape = CASES[case]
    x = RNG.uniform(-1.5, 1.5, size=shape)
    _close(F.jacobian(f)(x), tfunc.jacrev(tf)(_t(x)))
    _close(F.jacobian(f, mode="fwd")(x), tfunc.jacfwd(tf)(_t(x)))
    want = tfunc.hessian(_scalar_torch(tf))(_t(x))
    _close(F.hessian(_scalar(f))(x), want)  # reverse over reverse
    _close(F.hessian(_scalar(f), mode="fwd")(x), want)  # forward over reverse, as torch.func


def test_tuple_outputs() -> None:
    """A function of two outputs: vjp, jvp, jacrev and jacfwd give tuples as torch.func's."""

    def f(x: Variable) -> tuple[Variable, Variable]:
        return tanh(x @ W1 + B1), (x * x).sum(axis=1)

    def tf(x: Any) -> Any:
        return torch.tanh(x @ _t(W1) + _t(B1)), (x * x).sum(dim=1)

    x = RNG.uniform(-1.5, 1.5, size=(4, 3))
    outs, pull = F.vjp(f, x)
    t_outs, t_pull = tfunc.vjp(tf, _t(x))
    for ours, theirs in zip(outs, t_outs, strict=True):
        _close(ours, theirs)
    us = (RNG.normal(size=outs[0].shape), RNG.normal(size=outs[1].shape))
    _close(pull(us)[0], t_pull(tuple(_t(u) for u in us))[0])
    v = RNG.normal(size=x.shape)
    (_, tangents), (_, t_tangents) = F.jvp(f, (x,), (v,)), tfunc.jvp(tf, (_t(x),), (_t(v),))
    for ours, theirs in zip(tangents, t_tangents, strict=True):
        _close(ours, theirs)
    for ours, theirs in zip(F.jacobian(f)(x), tfunc.jacrev(tf)(_t(x)), strict=True):
        _close(ours, theirs)
    for ours, theirs in zip(F.jacobian(f, mode="fwd")(x), tfunc.jacfwd(tf)(_t(x)), strict=True):
        _close(ours, theirs)
