"""W5: the 2nd and 3rd derivatives of tanh at 1000 points (float64, in [-3, 3]).

A framework differentiates its own backward graph (`create_graph=True`) three times; the
NumPy reference writes the closed forms, reusing tanh's value:

    y = tanh(x);  d1 = 1 - y^2;  d2 = -2 y d1;  d3 = -2 (d1^2 + y d2)

HIPS autograd has no way to return the 2nd derivative on the way to the 3rd, so it calls
`elementwise_grad` twice and the 3rd derivative's call recomputes the 2nd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError


def _input(n: int) -> Array:
    return np.linspace(-3.0, 3.0, n)


def _reference(n: int) -> Run:
    x = _input(n)

    def run() -> Grads:
        y = np.tanh(x)
        d1 = 1 - y * y
        d2 = -2 * y * d1
        d3 = -2 * (d1 * d1 + y * d2)
        return {"d2": d2, "d3": d3}

    return run


def _ours(n: int) -> Run:
    try:
        from dezero_ext import Variable
        from dezero_ext_math import tanh
    except ImportError as exc:
        raise UnavailableError(
            f"dezero_ext with the math plugin is not importable ({exc})"
        ) from None
    x = Variable(_input(n))

    def run() -> Grads:
        x.cleargrad()
        y = tanh(x)
        y.backward(create_graph=True)
        d1 = x.grad
        assert d1 is not None
        x.cleargrad()
        d1.backward(create_graph=True)
        d2 = x.grad
        assert d2 is not None
        x.cleargrad()
        d2.backward()
        d3 = x.grad
        assert d3 is not None
        return {"d2": d2.data, "d3": d3.data}

    return run


def _dezero(n: int) -> Run:
    dezero = peers.dezero()
    tanh = dezero.functions.tanh
    x = dezero.Variable(_input(n))

    def run() -> Grads:
        x.cleargrad()
        y = tanh(x)
        y.backward(create_graph=True)
        d1 = x.grad
        x.cleargrad()
        d1.backward(create_graph=True)
        d2 = x.grad
        x.cleargrad()
        d2.backward()
        return {"d2": np.asarray(d2.data), "d3": np.asarray(x.grad.data)}

    return run


def _autograd(n: int) -> Run:
    autograd = peers.load("autograd")
    anp = peers.load("autograd.numpy", label="autograd")
    egrad = autograd.elementwise_grad
    second = egrad(egrad(anp.tanh))
    third = egrad(second)
    x = _input(n)

    def run() -> Grads:
        return {"d2": np.asarray(second(x)), "d3": np.asarray(third(x))}

    return run


def _torch(n: int) -> Run:
    torch = peers.torch()
    x = torch.from_numpy(_input(n)).requires_grad_()
    grad = torch.autograd.grad

    def run() -> Grads:
        y = torch.tanh(x)
        ones = torch.ones_like(y)
        (d1,) = grad(y, x, ones, create_graph=True)
        (d2,) = grad(d1, x, ones, create_graph=True)
        (d3,) = grad(d2, x, ones)
        out: dict[str, Any] = {"d2": d2.detach().numpy(), "d3": d3.numpy()}
        return out

    return run


def w5_cases(quick: bool) -> list[Case]:
    n = 1000
    return [
        Case(
            workload="W5",
            key="W5",
            title=f"higher order: tanh's 2nd and 3rd derivatives at {n} float64 points",
            reference=lambda: _reference(n),
            impls={
                "dezero_ext": lambda: _ours(n),
                "dezero": lambda: _dezero(n),
                "autograd": lambda: _autograd(n),
                "torch": lambda: _torch(n),
            },
            rtol=1e-9,
            rounds=5 if quick else 31,
            min_sample_s=0.002 if quick else 0.01,
        )
    ]
