"""W4: 20 elementwise ops on 1e6 float32 elements, forward + backward, with peak memory.

The chain repeats a cycle of five ops four times (values stay in (-1, 1)):

    v*0.5, exp, -1, tanh, sin

and backward starts from a gradient of ones (as `y.backward()` does for a non-scalar y).
Here the per-op overhead is nothing next to the arithmetic: what counts is not doing extra
passes over memory and not keeping more arrays alive than backward needs. The NumPy reference
keeps exactly what its backward needs: exp's output and tanh's output (sin's input).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError

CYCLES = 4


def _input(n: int) -> Array:
    return np.random.default_rng(0).standard_normal(n).astype(np.float32)


def _reference(n: int) -> Run:
    x = _input(n)

    def run() -> Grads:
        saved: list[tuple[Array, Array]] = []
        v = x
        for _ in range(CYCLES):
            e = np.exp(v * 0.5)
            t = np.tanh(e - 1)
            v = np.sin(t)
            saved.append((e, t))
        g = np.ones_like(v)
        for e, t in reversed(saved):
            g = g * np.cos(t)
            g = g * (1 - t * t)
            g = g * e
            g = g * 0.5
        return {"x": g}

    return run


def _ours(n: int) -> Run:
    try:
        from dezero_ext import Variable
        from dezero_ext.ops import exp
        from dezero_ext_math import sin, tanh
    except ImportError as exc:
        raise UnavailableError(
            f"dezero_ext with the math plugin is not importable ({exc})"
        ) from None
    x = Variable(_input(n))

    def run() -> Grads:
        x.cleargrad()
        v = x
        for _ in range(CYCLES):
            v = sin(tanh(exp(v * 0.5) - 1))
        v.backward()
        assert x.grad is not None
        return {"x": x.grad.data}

    return run


def _dezero(n: int) -> Run:
    dezero = peers.dezero()
    fn = dezero.functions
    x = dezero.Variable(_input(n))

    def run() -> Grads:
        x.cleargrad()
        v = x
        for _ in range(CYCLES):
            v = fn.sin(fn.tanh(fn.exp(v * 0.5) - 1))
        v.backward()
        return {"x": np.asarray(x.grad.data)}

    return run


def _autograd(n: int) -> Run:
    autograd = peers.load("autograd")
    anp = peers.load("autograd.numpy", label="autograd")

    def f(v: Any) -> Any:
        for _ in range(CYCLES):
            v = anp.sin(anp.tanh(anp.exp(v * 0.5) - 1))
        return v

    grad_f = autograd.elementwise_grad(f)
    x = _input(n)

    def run() -> Grads:
        return {"x": np.asarray(grad_f(x))}

    return run


def _torch(n: int) -> Run:
    torch = peers.torch()
    x = torch.from_numpy(_input(n)).requires_grad_()

    def run() -> Grads:
        x.grad = None
        v = x
        for _ in range(CYCLES):
            v = torch.sin(torch.tanh(torch.exp(v * 0.5) - 1))
        v.backward(torch.ones_like(v))
        grad: Array = x.grad.numpy().copy()
        return {"x": grad}

    return run


def w4_cases(quick: bool, size: int | None = None) -> list[Case]:
    n = size if size is not None else (100_000 if quick else 1_000_000)
    return [
        Case(
            workload="W4",
            key="W4",
            title=f"wide elementwise: 20 ops on {n:,} float32 elements, fwd+bwd",
            reference=lambda: _reference(n),
            impls={
                "dezero_ext": lambda: _ours(n),
                "dezero": lambda: _dezero(n),
                "autograd": lambda: _autograd(n),
                "torch": lambda: _torch(n),
            },
            rtol=1e-5,
            rounds=3 if quick else 15,
        )
    ]
