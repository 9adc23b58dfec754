"""Comparing an op with PyTorch (forward, gradient, second derivative; float64): shared by
the torch cross-checks, which are skipped when torch is not installed."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from dezero_ext import Variable

torch: Any = importlib.import_module("torch")  # imported by tests after their importorskip
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
