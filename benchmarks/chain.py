"""W1 (1000-op chains) and W2 (deep chains, 20,000 and 100,000 ops).

Both time the per-op overhead of building and walking the graph: the data is one float64
number in a 0-d array, so the arithmetic itself is negligible. Two chains:

- the **scalar chain** (W1, W2) repeats eight ops with Python-number operands on a 0-d array
  ``v`` (starting at 0.5): ``v*2, +1, *0.5, -0.5, **2, **0.5, exp, /e`` (so ``v -> exp(v - 1)``
  per cycle); every value stays finite and the gradient far from underflow at any length;
- the **transcendental chain** (W1-transc) cycles the unary ops users write,
  ``square, cos, exp, sin, log, tanh``, which keeps ``sin``'s output positive for ``log``.

The NumPy reference is written as anyone would: ``v * 2.0`` on a 0-d array returns a NumPy
float64 scalar, so after the first op NumPy computes on scalars (about 0.2 µs per op). Its
backward reuses forward values (exp's and tanh's outputs). An informational row, ``numpy-0d``,
keeps every intermediate a 0-d array (``np.asarray`` after each op), the data model of every
framework: it shows how much of the gap is NumPy's own cost of 0-d arrays.

Every implementation also has a forward-only run, so the table splits the time per op into
forward and backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.harness import Array, Builder, Case, Grads, Run, UnavailableError

START = 0.5
E = math.e

# ---------------------------------------------------------------------- the two chains
# Each chain is a function of (v, ops) applying one cycle, where ``ops`` names the
# framework's functions; the NumPy references are written out below.
Cycle = Callable[[Any, Any], Any]


def scalar_cycle(v: Any, f: Any) -> Any:
    v = v * 2.0
    v = v + 1.0
    v = v * 0.5
    v = v - 0.5
    v = v**2
    v = v**0.5
    v = f.exp(v)
    return v / E


def transcendental_cycle(v: Any, f: Any) -> Any:
    return f.tanh(f.log(f.sin(f.exp(f.cos(f.square(v))))))


CHAINS: dict[str, tuple[Cycle, int]] = {
    "scalar": (scalar_cycle, 8),
    "transcendental": (transcendental_cycle, 6),
}


def _scalar_reference(n_cycles: int, wrap: Callable[[Any], Any], backward: bool) -> Grads:
    saved: list[tuple[Any, Any, Any]] = []
    v: Any = np.array(START)
    for _ in range(n_cycles):
        a = wrap(v * 2.0)
        b = wrap(a + 1.0)
        c = wrap(b * 0.5)
        d = wrap(c - 0.5)
        s = wrap(d**2)
        r = wrap(s**0.5)
        g = wrap(np.exp(r))
        v = wrap(g / E)
        saved.append((d, r, g))
    if not backward:
        return {}
    gv: Any = np.ones(())
    for d, r, g in reversed(saved):
        gv = wrap(gv / E)  # v = g / e
        gv = wrap(gv * g)  # g = exp(r): the gradient is exp's own output
        gv = wrap(gv * 0.5 / r)  # r = s ** 0.5: 0.5 * s ** -0.5 == 0.5 / r
        gv = wrap(gv * 2.0 * d)  # s = d ** 2
        gv = wrap(gv * 0.5)  # c = b * 0.5 (d = c - 0.5 and b = a + 1 pass gv through)
        gv = wrap(gv * 2.0)  # a = v * 2
    return {"x": np.asarray(gv, dtype=np.float64)}


def _transcendental_reference(n_cycles: int, wrap: Callable[[Any], Any], backward: bool) -> Grads:
    saved: list[tuple[Any, Any, Any, Any, Any]] = []
    v: Any = np.array(START)
    for _ in range(n_cycles):
        s = wrap(v * v)
        c = wrap(np.cos(s))
        e = wrap(np.exp(c))
        n = wrap(np.sin(e))
        lg = wrap(np.log(n))
        t = wrap(np.tanh(lg))
        saved.append((v, s, e, n, t))
        v = t
    if not backward:
        return {}
    gv: Any = np.ones(())
    for x, s, e, n, t in reversed(saved):
        gv = wrap(gv * (1 - t * t))  # tanh: 1 - y**2, its own output
        gv = wrap(gv / n)  # log
        gv = wrap(gv * np.cos(e))  # sin
        gv = wrap(gv * e)  # exp: its own output
        gv = wrap(gv * -np.sin(s))  # cos
        gv = wrap(gv * 2.0 * x)  # square
    return {"x": np.asarray(gv, dtype=np.float64)}


REFERENCES = {"scalar": _scalar_reference, "transcendental": _transcendental_reference}


def _reference(chain: str, n_cycles: int, *, keep_0d: bool = False, backward: bool = True) -> Run:
    wrap: Callable[[Any], Any] = np.asarray if keep_0d else (lambda a: a)
    body = REFERENCES[chain]
    return lambda: body(n_cycles, wrap, backward)


# ---------------------------------------------------------------------- the frameworks
class _Namespace:
    def __init__(self, **functions: Any) -> None:
        self.__dict__.update(functions)


def _our_ops() -> _Namespace:
    try:
        from dezero_ext.ops import exp, square
        from dezero_ext_math import cos, log, sin, tanh
    except ImportError as exc:
        raise UnavailableError(f"dezero_ext is not importable ({exc})") from None
    return _Namespace(exp=exp, square=square, cos=cos, sin=sin, log=log, tanh=tanh)


def _ours(chain: str, n_cycles: int, backward: bool) -> Run:
    f = _our_ops()
    from dezero_ext import Variable

    cycle = CHAINS[chain][0]
    x = Variable(np.array(START))

    def run() -> Grads:
        x.cleargrad()
        v = x
        for _ in range(n_cycles):
            v = cycle(v, f)
        if not backward:
            return {}
        v.backward()
        assert x.grad is not None
        return {"x": x.grad.data}

    return run


def _dezero(chain: str, n_cycles: int, backward: bool) -> Run:
    dezero = peers.dezero()
    F = dezero.functions  # noqa: N806 - DeZero's name
    # DeZero 0.0.13 exports no square function (its book builds one in step 9): x ** 2
    f = _Namespace(exp=F.exp, square=lambda v: v**2, cos=F.cos, sin=F.sin, log=F.log, tanh=F.tanh)
    cycle = CHAINS[chain][0]
    x = dezero.Variable(np.array(START))

    def run() -> Grads:
        x.cleargrad()
        v = x
        for _ in range(n_cycles):
            v = cycle(v, f)
        if not backward:
            return {}
        v.backward()
        grad: Array = np.asarray(x.grad.data)
        return {"x": grad}

    return run


def _autograd(chain: str, n_cycles: int, backward: bool) -> Run:
    autograd = peers.load("autograd")
    anp = peers.load("autograd.numpy", label="autograd")
    cycle = CHAINS[chain][0]

    def f(v: Any) -> Any:
        for _ in range(n_cycles):
            v = cycle(v, anp)
        return v

    grad_f = autograd.grad(f)
    x = np.array(START)

    def run() -> Grads:
        if not backward:
            # autograd traces only under grad: the forward-only row is its traced forward,
            # i.e. make_vjp without calling the vjp.
            autograd.make_vjp(f)(x)
            return {}
        return {"x": np.asarray(grad_f(x), dtype=np.float64)}

    return run


def _torch(chain: str, n_cycles: int, backward: bool) -> Run:
    torch = peers.torch()
    cycle = CHAINS[chain][0]
    x = torch.tensor(START, dtype=torch.float64, requires_grad=True)

    def run() -> Grads:
        x.grad = None
        v = x
        for _ in range(n_cycles):
            v = cycle(v, torch)
        if not backward:
            return {}
        v.backward()
        grad: Array = x.grad.numpy().copy()
        return {"x": grad}

    return run


def _ours_traced(chain: str, n_cycles: int, backward: bool) -> Run:
    """The chain as a traced function (``dezero_ext.trace``): recorded once, then replayed as
    NumPy calls with no Variable or Function per op."""
    f = _our_ops()
    from dezero_ext import Variable, trace

    cycle = CHAINS[chain][0]
    x = Variable(np.array(START))

    def chain_of(v: Any) -> Any:
        for _ in range(n_cycles):
            v = cycle(v, f)
        return v

    traced = trace(chain_of)
    traced(x)  # the recording call, outside the timed runs

    def run() -> Grads:
        x.cleargrad()
        v = traced(x)
        if not backward:
            return {}
        v.backward()
        assert x.grad is not None
        return {"x": x.grad.data}

    return run


IMPLS: dict[str, Callable[[str, int, bool], Run]] = {
    "dezero_ext": _ours,
    "dezero_ext-traced": _ours_traced,
    "dezero": _dezero,
    "autograd": _autograd,
    "torch": _torch,
}


def _case(
    workload: str,
    key: str,
    title: str,
    chain: str,
    n_ops: int,
    rounds: int,
    peers_on: bool,
) -> Case:
    n_cycles = n_ops // CHAINS[chain][1]

    def builder(name: str, backward: bool) -> Builder:
        if name == "numpy-0d":
            return lambda: _reference(chain, n_cycles, keep_0d=True, backward=backward)
        return lambda: IMPLS[name](chain, n_cycles, backward)

    names = ["numpy-0d", "dezero_ext", "dezero_ext-traced"]
    names += ["dezero", "autograd", "torch"] if peers_on else []
    return Case(
        workload=workload,
        key=key,
        title=title,
        reference=lambda: _reference(chain, n_cycles),
        impls={name: builder(name, True) for name in names},
        forward_impls={
            "numpy": lambda: _reference(chain, n_cycles, backward=False),
            **{name: builder(name, False) for name in names},
        },
        rtol=1e-9,
        rounds=rounds,
        ops=n_cycles * CHAINS[chain][1],
        informational=frozenset({"numpy-0d"}),
    )


def w1_cases(quick: bool) -> list[Case]:
    n_ops = 1000
    rounds = 5 if quick else 41
    return [
        _case(
            "W1",
            "W1",
            f"scalar chain, {n_ops} ops with number operands on a 0-d float64 array, fwd+bwd",
            "scalar",
            n_ops,
            rounds,
            peers_on=True,
        ),
        _case(
            "W1",
            "W1-transc",
            "transcendental chain, square cos exp sin log tanh, 996 ops on a 0-d float64 "
            "array, fwd+bwd",
            "transcendental",
            n_ops,
            rounds,
            peers_on=True,
        ),
    ]


def w2_cases(quick: bool) -> list[Case]:
    short, long = (2_000, 10_000) if quick else (20_000, 100_000)
    rounds = 2 if quick else 7
    return [
        _case(
            "W2",
            f"W2-{short // 1000}k",
            f"deep chain, {short} ops, fwd+bwd",
            "scalar",
            short,
            rounds,
            True,
        ),
        # Peers at 100k would cost more than the whole rest of the suite; the 100k case
        # checks that our engine works and grows linearly.
        _case(
            "W2",
            f"W2-{long // 1000}k",
            f"deep chain, {long} ops, fwd+bwd",
            "scalar",
            long,
            rounds,
            False,
        ),
    ]
