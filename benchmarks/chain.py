"""W1 (scalar chain, 1000 ops) and W2 (deep chain, 20,000 and 100,000 ops).

Both time the per-op overhead of building and walking the graph: the data is one float64
number in a 0-d array, so the arithmetic itself is negligible. The chain repeats a cycle of
eight elementwise ops on a 0-d array `v` (starting at 0.5):

    v*2, +1, *0.5, -0.5, **2, **0.5, exp, /e      (so v -> exp(v - 1) per cycle)

Every value stays finite and the gradient stays far from underflow even at 100,000 ops.

The NumPy reference is written as anyone would: `v * 2.0` on a 0-d array returns a NumPy
float64 scalar, so after the first op NumPy computes on scalars (about 0.2 µs per op). Its
backward reuses the forward values (exp's output, the square root's output). An
informational row, `numpy-0d`, keeps every intermediate a 0-d array (`np.asarray` after each
op), which is the data model every framework has; it shows how much of the gap is NumPy's
own cost of 0-d arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError

OPS_PER_CYCLE = 8
START = 0.5
E = math.e


def _reference(n_cycles: int, *, keep_0d: bool = False) -> Run:
    wrap = np.asarray if keep_0d else (lambda a: a)
    exp = np.exp
    x = np.array(START)

    def run() -> Grads:
        saved: list[tuple[Any, Any, Any]] = []
        v: Any = x
        for _ in range(n_cycles):
            a = wrap(v * 2.0)
            b = wrap(a + 1.0)
            c = wrap(b * 0.5)
            d = wrap(c - 0.5)
            s = wrap(d**2)
            r = wrap(s**0.5)
            g = wrap(exp(r))
            v = wrap(g / E)
            saved.append((d, r, g))
        gv: Any = np.ones_like(x)
        for d, r, g in reversed(saved):
            gv = wrap(gv / E)  # v = g / e
            gv = wrap(gv * g)  # g = exp(r): the gradient is exp's own output
            gv = wrap(gv * 0.5 / r)  # r = s ** 0.5: 0.5 * s ** -0.5 == 0.5 / r
            gv = wrap(gv * 2.0 * d)  # s = d ** 2
            gv = wrap(gv * 0.5)  # c = b * 0.5 (d = c - 0.5 and b = a + 1 pass gv through)
            gv = wrap(gv * 2.0)  # a = v * 2
        return {"x": np.asarray(gv, dtype=np.float64)}

    return run


def _ours(n_cycles: int) -> Run:
    try:
        from dezero_ext import Variable
        from dezero_ext.ops import exp
    except ImportError as exc:
        raise UnavailableError(f"dezero_ext is not importable ({exc})") from None
    x = Variable(np.array(START))

    def run() -> Grads:
        x.cleargrad()
        v = x
        for _ in range(n_cycles):
            v = v * 2.0
            v = v + 1.0
            v = v * 0.5
            v = v - 0.5
            v = v**2
            v = v**0.5
            v = exp(v)
            v = v / E
        v.backward()
        assert x.grad is not None
        return {"x": x.grad.data}

    return run


def _dezero(n_cycles: int) -> Run:
    dezero = peers.dezero()
    exp = dezero.functions.exp
    x = dezero.Variable(np.array(START))

    def run() -> Grads:
        x.cleargrad()
        v = x
        for _ in range(n_cycles):
            v = v * 2.0
            v = v + 1.0
            v = v * 0.5
            v = v - 0.5
            v = v**2
            v = v**0.5
            v = exp(v)
            v = v / E
        v.backward()
        grad: Array = np.asarray(x.grad.data)
        return {"x": grad}

    return run


def _autograd(n_cycles: int) -> Run:
    autograd = peers.load("autograd")
    anp = peers.load("autograd.numpy", label="autograd")
    exp = anp.exp

    def f(v: Any) -> Any:
        for _ in range(n_cycles):
            v = v * 2.0
            v = v + 1.0
            v = v * 0.5
            v = v - 0.5
            v = v**2
            v = v**0.5
            v = exp(v)
            v = v / E
        return v

    grad_f = autograd.grad(f)
    x = np.array(START)

    def run() -> Grads:
        return {"x": np.asarray(grad_f(x), dtype=np.float64)}

    return run


def _torch(n_cycles: int) -> Run:
    torch = peers.torch()
    exp = torch.exp
    x = torch.tensor(START, dtype=torch.float64, requires_grad=True)

    def run() -> Grads:
        x.grad = None
        v = x
        for _ in range(n_cycles):
            v = v * 2.0
            v = v + 1.0
            v = v * 0.5
            v = v - 0.5
            v = v**2
            v = v**0.5
            v = exp(v)
            v = v / E
        v.backward()
        grad: Array = x.grad.numpy().copy()
        return {"x": grad}

    return run


def _case(workload: str, key: str, title: str, n_ops: int, rounds: int, peers_on: bool) -> Case:
    n_cycles = n_ops // OPS_PER_CYCLE
    impls = {
        "numpy-0d": lambda: _reference(n_cycles, keep_0d=True),
        "dezero_ext": lambda: _ours(n_cycles),
    }
    if peers_on:
        impls |= {
            "dezero": lambda: _dezero(n_cycles),
            "autograd": lambda: _autograd(n_cycles),
            "torch": lambda: _torch(n_cycles),
        }
    return Case(
        workload=workload,
        key=key,
        title=title,
        reference=lambda: _reference(n_cycles),
        impls=impls,
        rtol=1e-9,
        rounds=rounds,
        ops=n_cycles * OPS_PER_CYCLE,
        informational=frozenset({"numpy-0d"}),
    )


def w1_cases(quick: bool) -> list[Case]:
    n_ops = 1000
    return [
        _case(
            "W1",
            "W1",
            f"scalar chain, {n_ops} elementwise ops on a 0-d float64 array, fwd+bwd",
            n_ops,
            rounds=5 if quick else 41,
            peers_on=True,
        )
    ]


def w2_cases(quick: bool) -> list[Case]:
    short, long = (2_000, 10_000) if quick else (20_000, 100_000)
    rounds = 2 if quick else 7
    return [
        _case(
            "W2", f"W2-{short // 1000}k", f"deep chain, {short} ops, fwd+bwd", short, rounds, True
        ),
        # Peers at 100k would cost more than the whole rest of the suite; the 100k case
        # checks that our engine works and grows linearly.
        _case("W2", f"W2-{long // 1000}k", f"deep chain, {long} ops, fwd+bwd", long, rounds, False),
    ]
