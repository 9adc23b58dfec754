"""W8 (the Hessian of a 100-input scalar function) and W9 (a JVP through W1's 1000-op chain).

- **W8**: ``f(x) = w3 · tanh(W2ᵀ tanh(W1ᵀ x + b1) + b2)``, a small MLP's output with respect
  to its input ``x`` of 100 values (hidden layers of 32), float64. ``dezero_ext.func.hessian``
  (forward over reverse) against ``torch.func.hessian`` (``jacfwd(jacrev)``, vmapped) and
  ``jax.hessian``; the NumPy reference writes the Hessian out with matrices:
  ``H = W1 diag(-2 h1 a1 (W2 g2)) W1ᵀ + B diag(-2 h2 a2 w3) Bᵀ`` with ``a = 1 - h²``,
  ``g2 = w3 a2`` and ``B = W1 diag(a1) W2``.
- **W9**: the tangent of W1's scalar chain (``v*2, +1, *0.5, -0.5, **2, **0.5, exp, /e``,
  1000 ops on a 0-d float64 array) along 1, by ``dezero_ext.func.jvp`` (a dual-number pass)
  against ``torch.func.jvp`` and ``jax.jvp``; the NumPy reference carries the tangent beside
  the value by hand, on NumPy scalars (as W1's reference computes).

JAX runs jitted (compiled once before timing, as JAX code runs): its row is context, since it
compiles the whole function, which an eager framework cannot. W8's ``dezero_ext`` row is
``hessian``'s default, reverse over reverse; ``dezero_ext-fwd`` (context) is forward over
reverse, ``torch.func.hessian``'s way, without the ``vmap`` that batches torch's.
``torch-1thread`` (context) is ``torch`` on one thread, as dezero_ext computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.chain import START, scalar_cycle
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError

E = math.e
N_IN, HIDDEN = 100, 32


# ---------------------------------------------------------------------- W8: the Hessian
def _mlp_params() -> dict[str, Array]:
    rng = np.random.default_rng(8)
    return {
        "x": rng.normal(size=N_IN),
        "W1": rng.normal(size=(N_IN, HIDDEN)) / math.sqrt(N_IN),
        "b1": rng.normal(size=HIDDEN) * 0.1,
        "W2": rng.normal(size=(HIDDEN, HIDDEN)) / math.sqrt(HIDDEN),
        "b2": rng.normal(size=HIDDEN) * 0.1,
        "w3": rng.normal(size=HIDDEN),
    }


def _hessian_reference() -> Run:
    p = _mlp_params()
    x, W1, b1, W2, b2, w3 = (p[k] for k in ("x", "W1", "b1", "W2", "b2", "w3"))  # noqa: N806

    def run() -> Grads:
        h1 = np.tanh(x @ W1 + b1)
        a1 = 1 - h1 * h1
        h2 = np.tanh(h1 @ W2 + b2)
        a2 = 1 - h2 * h2
        g2 = w3 * a2  # df/dz2
        first = W1 * (-2 * h1 * a1 * (W2 @ g2))  # tanh'' of layer 1, weighted
        B = (W1 * a1) @ W2  # noqa: N806  # dz2/dx
        second = B * (-2 * h2 * a2 * w3)  # tanh'' of layer 2, weighted
        return {"H": first @ W1.T + second @ B.T}

    return run


def _hessian_ours(mode: str = "rev") -> Run:
    try:
        from dezero_ext import Variable, func
        from dezero_ext_math import tanh
    except ImportError as exc:
        raise UnavailableError(
            f"dezero_ext with the math plugin is not importable ({exc})"
        ) from None
    p = _mlp_params()
    W1, b1, W2, b2, w3 = (p[k] for k in ("W1", "b1", "W2", "b2", "w3"))  # noqa: N806

    def f(x: Variable) -> Variable:
        return (tanh(tanh(x @ W1 + b1) @ W2 + b2) * w3).sum()

    hessian = func.hessian(f, mode="fwd" if mode == "fwd" else "rev")
    x = p["x"]

    def run() -> Grads:
        return {"H": hessian(x)}

    return run


def _hessian_torch() -> Run:
    torch = peers.torch()
    p = {k: torch.from_numpy(v) for k, v in _mlp_params().items()}
    W1, b1, W2, b2, w3 = (p[k] for k in ("W1", "b1", "W2", "b2", "w3"))  # noqa: N806

    def f(x: Any) -> Any:
        return (torch.tanh(torch.tanh(x @ W1 + b1) @ W2 + b2) * w3).sum()

    hessian = torch.func.hessian(f)
    x = p["x"]

    def run() -> Grads:
        return {"H": hessian(x).numpy()}

    return run


def _one_thread(builder: Callable[[], Run]) -> Run:
    """``builder``'s run with torch on one thread (as dezero_ext computes), its setting put
    back after each run: on a loaded 2-core machine torch's default threads wait for each
    other, so this row shows torch's own cost."""
    torch = peers.torch()
    run = builder()

    def single() -> Grads:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run()
        finally:
            torch.set_num_threads(threads)

    return single


def _jax() -> Any:
    jax = peers.load("jax")
    jax.config.update("jax_enable_x64", True)  # float64, as the others
    return jax


def _hessian_jax() -> Run:
    jax = _jax()
    jnp = jax.numpy
    p = {k: jnp.asarray(v) for k, v in _mlp_params().items()}
    W1, b1, W2, b2, w3 = (p[k] for k in ("W1", "b1", "W2", "b2", "w3"))  # noqa: N806

    def f(x: Any) -> Any:
        return (jnp.tanh(jnp.tanh(x @ W1 + b1) @ W2 + b2) * w3).sum()

    hessian = jax.jit(jax.hessian(f))
    x = p["x"]
    hessian(x).block_until_ready()  # compiled here, not in the timed runs

    def run() -> Grads:
        return {"H": np.asarray(hessian(x).block_until_ready())}

    return run


# ---------------------------------------------------------------------- W9: a JVP of the chain
def _jvp_reference(n_cycles: int) -> Run:
    def run() -> Grads:
        v: Any = np.array(START)
        t: Any = 1.0
        for _ in range(n_cycles):
            v, t = v * 2.0, t * 2.0
            v = v + 1.0
            v, t = v * 0.5, t * 0.5
            v = v - 0.5
            d = v
            v, t = d**2, t * 2.0 * d
            v, t = v**0.5, t * 0.5 / v**0.5
            v = np.exp(v)
            t = t * v
            v, t = v / E, t / E
        return {"y": np.asarray(v, dtype=np.float64), "t": np.asarray(t, dtype=np.float64)}

    return run


def _chain(v: Any, f: Any, n_cycles: int) -> Any:
    for _ in range(n_cycles):
        v = scalar_cycle(v, f)
    return v


class _Ops:
    def __init__(self, exp: Any) -> None:
        self.exp = exp


def _jvp_ours(n_cycles: int) -> Run:
    try:
        from dezero_ext import Variable, func
        from dezero_ext.ops import exp
    except ImportError as exc:
        raise UnavailableError(f"dezero_ext is not importable ({exc})") from None
    ops = _Ops(exp)

    def f(v: Variable) -> Variable:
        return _chain(v, ops, n_cycles)  # type: ignore[no-any-return]  # Variables through

    x, tangent = np.array(START), np.array(1.0)

    def run() -> Grads:
        y, t = func.jvp(f, (x,), (tangent,))
        return {"y": y, "t": t}

    return run


def _jvp_torch(n_cycles: int) -> Run:
    torch = peers.torch()
    ops = _Ops(torch.exp)
    x = torch.tensor(START, dtype=torch.float64)
    tangent = torch.tensor(1.0, dtype=torch.float64)

    def run() -> Grads:
        y, t = torch.func.jvp(lambda v: _chain(v, ops, n_cycles), (x,), (tangent,))
        return {"y": y.numpy(), "t": t.numpy()}

    return run


def _jvp_jax(n_cycles: int) -> Run:
    jax = _jax()
    ops = _Ops(jax.numpy.exp)
    x, tangent = jax.numpy.asarray(START), jax.numpy.asarray(1.0)
    push = jax.jit(lambda v, t: jax.jvp(lambda z: _chain(z, ops, n_cycles), (v,), (t,)))
    jax.block_until_ready(push(x, tangent))

    def run() -> Grads:
        y, t = jax.block_until_ready(push(x, tangent))
        return {"y": np.asarray(y), "t": np.asarray(t)}

    return run


def w8_cases(quick: bool) -> list[Case]:
    return [
        Case(
            workload="W8",
            key="W8",
            title=f"Hessian of an MLP {N_IN}-{HIDDEN}-{HIDDEN}-1 (tanh) in its {N_IN} inputs, "
            "float64",
            reference=_hessian_reference,
            impls={
                "dezero_ext": _hessian_ours,
                "dezero_ext-fwd": lambda: _hessian_ours("fwd"),
                "torch": _hessian_torch,
                "torch-1thread": lambda: _one_thread(_hessian_torch),
                "jax": _hessian_jax,
            },
            rtol=1e-10,
            rounds=5 if quick else 21,
            min_sample_s=0.002 if quick else 0.02,
            informational=frozenset({"dezero_ext-fwd", "torch-1thread", "jax"}),
        )
    ]


def w9_cases(quick: bool) -> list[Case]:
    n_cycles = 1000 // 8
    return [
        Case(
            workload="W9",
            key="W9",
            title="JVP of W1's scalar chain, 1000 ops on a 0-d float64 array",
            reference=lambda: _jvp_reference(n_cycles),
            impls={
                "dezero_ext": lambda: _jvp_ours(n_cycles),
                "torch": lambda: _jvp_torch(n_cycles),
                "torch-1thread": lambda: _one_thread(lambda: _jvp_torch(n_cycles)),
                "jax": lambda: _jvp_jax(n_cycles),
            },
            rtol=1e-9,
            rounds=5 if quick else 31,
            ops=n_cycles * 8,
            min_sample_s=0.002 if quick else 0.01,
            informational=frozenset({"torch-1thread", "jax"}),
        )
    ]
