"""Independent cross-check of the math plugin against PyTorch (skipped without torch):
forward values, gradients and second derivatives in float64 on random inputs.

``compare_with_torch`` is shared with ``test_builtin_ops_torch.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import dezero_ext_math as dm
from dezero_ext import Variable

torch: Any = pytest.importorskip("torch")

RNG = np.random.default_rng(99)


def compare_with_torch(
    ours: Callable[..., Variable],
    theirs: Callable[..., Any],
    *arrays: np.ndarray,
    rtol: float = 1e-12,
    atol: float = 1e-12,
) -> None:
    """Forward, gradient of ``sum(w * y)`` and derivative of ``<grad, v>`` agree with torch."""
    xs = [np.array(a, dtype=np.float64) for a in arrays]
    vs = [Variable(x) for x in xs]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    y = ours(*vs)
    ty = theirs(*ts)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=rtol, atol=atol)

    w = RNG.uniform(-1.5, 1.5, size=y.shape)
    y.grad = Variable(w)
    y.backward(create_graph=True)
    tgrads = torch.autograd.grad((ty * torch.tensor(w)).sum(), ts, create_graph=True)
    grads = [v.grad for v in vs]
    for i, (g, tg) in enumerate(zip(grads, tgrads, strict=True)):
        assert g is not None
        np.testing.assert_allclose(
            g.data, tg.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"gradient {i}"
        )

    directions = [RNG.uniform(-1.0, 1.0, size=x.shape) for x in xs]
    for v in vs:
        v.cleargrad()
    total: Variable | None = None
    for g, d in zip(grads, directions, strict=True):
        assert g is not None
        term = (g * d).sum()
        total = term if total is None else total + term
    assert total is not None
    ttotal = sum((tg * torch.tensor(d)).sum() for tg, d in zip(tgrads, directions, strict=True))
    if not ttotal.requires_grad:  # linear in the inputs: no second derivative
        return
    tsecond = torch.autograd.grad(ttotal, ts, allow_unused=True)
    if total.creator is not None:
        total.backward()
    for i, (v, ts2) in enumerate(zip(vs, tsecond, strict=True)):
        expected = np.zeros_like(v.data) if ts2 is None else ts2.numpy(force=True)
        got = np.zeros_like(v.data) if v.grad is None else v.grad.data
        np.testing.assert_allclose(
            got, expected, rtol=rtol, atol=atol, err_msg=f"second derivative {i}"
        )


def _uniform(low: float, high: float, *shape: int) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


UNARY: Sequence[tuple[str, Callable[..., Variable], Callable[..., Any], float, float]] = [
    ("sin", dm.sin, lambda t: torch.sin(t), -6.0, 6.0),
    ("cos", dm.cos, lambda t: torch.cos(t), -6.0, 6.0),
    ("tan", dm.tan, lambda t: torch.tan(t), -1.3, 1.3),
    ("tanh", dm.tanh, lambda t: torch.tanh(t), -4.0, 4.0),
    ("log", dm.log, lambda t: torch.log(t), 0.2, 4.0),
    ("log1p", dm.log1p, lambda t: torch.log1p(t), -0.8, 3.0),
    ("sqrt", dm.sqrt, lambda t: torch.sqrt(t), 0.1, 4.0),
    ("abs", dm.abs, lambda t: torch.abs(t), -2.0, 2.0),
    ("clip", lambda x: dm.clip(x, -0.5, 1.0), lambda t: torch.clamp(t, -0.5, 1.0), -2.0, 2.0),
]


@pytest.mark.parametrize(
    ("name", "ours", "theirs", "low", "high"), UNARY, ids=[u[0] for u in UNARY]
)
def test_unary_ops_agree_with_torch(
    name: str,
    ours: Callable[..., Variable],
    theirs: Callable[..., Any],
    low: float,
    high: float,
) -> None:
    compare_with_torch(ours, theirs, _uniform(low, high, 3, 4))


def test_abs_and_clip_at_their_kinks_agree_with_torch() -> None:
    x = np.array([-1.0, 0.0, 1.0, -0.5, 2.0])
    compare_with_torch(dm.abs, torch.abs, x)
    compare_with_torch(lambda v: dm.clip(v, -0.5, 1.0), lambda t: torch.clamp(t, -0.5, 1.0), x)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (dm.maximum, lambda a, b: torch.maximum(a, b)),
        (dm.minimum, lambda a, b: torch.minimum(a, b)),
    ],
    ids=["maximum", "minimum"],
)
def test_maximum_minimum_agree_with_torch_including_ties(
    ours: Callable[..., Variable], theirs: Callable[..., Any]
) -> None:
    compare_with_torch(ours, theirs, _uniform(-2, 2, 2, 3), _uniform(-2, 2, 3))
    tied = np.array([1.0, 2.0, 3.0])
    compare_with_torch(ours, theirs, tied, np.array([3.0, 2.0, 1.0]))


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), -1], ids=["all", "0", "1", "(0,2)", "-1"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_agree_with_torch(axis: int | tuple[int, ...] | None, keepdims: bool) -> None:
    a = RNG.permutation(np.arange(24.0) / 7).reshape(2, 3, 4)
    dim = tuple(range(3)) if axis is None else axis
    compare_with_torch(
        lambda v: dm.max(v, axis, keepdims), lambda t: torch.amax(t, dim=dim, keepdim=keepdims), a
    )
    compare_with_torch(
        lambda v: dm.min(v, axis, keepdims), lambda t: torch.amin(t, dim=dim, keepdim=keepdims), a
    )
    compare_with_torch(
        lambda v: dm.logsumexp(v, axis, keepdims),
        lambda t: torch.logsumexp(t, dim=dim, keepdim=keepdims),
        _uniform(-3, 3, 2, 3, 4),
    )


def test_max_with_ties_splits_as_torch_amax() -> None:
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    compare_with_torch(lambda v: dm.max(v, 1), lambda t: torch.amax(t, dim=1), a)
