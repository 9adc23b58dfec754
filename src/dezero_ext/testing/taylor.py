"""The Taylor remainder test (pyadjoint's ``taylor_test``): a second opinion on a gradient that
needs no finite-difference step and no tolerance.

For a scalar function ``phi``, a direction ``v`` and steps ``h = h0 / 2**k``, the remainder of
the first-order expansion

    R(h) = |phi(x + h v) - phi(x) - h <grad, v>|

shrinks as ``h**2`` when ``grad`` is right (``R(h) / R(h/2) -> 4``, rate 2) and only as ``h``
when it is wrong (the term ``h <true grad - grad, v>`` remains: rate 1). A gradient off by a
tiny amount shows rate 2 at large steps and rate 1 once ``h`` is small enough, so the rates are
read at the smallest steps whose remainder still stands clear of the rounding noise of the
evaluations (and of the gradient's own dtype). For a vector function, ``phi`` is a scalar
projection ``<u, f(x)>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dezero_ext.testing.example import Example, random_direction
from dezero_ext.testing.jacobian import Jacobians
from dezero_ext.testing.numerical import F64, ArrayFunction

__all__ = ["TaylorTest", "failure_taylor", "taylor_test", "taylor_text"]

ScalarFunction = Callable[[Sequence[F64]], float]
"""``phi(xs)``: the scalar the test expands, of one array per input."""

# A remainder must exceed this many roundings of the values it is computed from to count: the
# rates of remainders near the noise are the noise's.
_CLEAR_OF_NOISE = 256.0
_WINDOW = 4


@dataclass(frozen=True, slots=True)
class TaylorTest:
    """The outcome: the ``steps`` read and the ``rates`` between consecutive ones
    (``log2(R(h) / R(h/2))``), the convergence ``order`` they show (1: the gradient is wrong
    along the direction; 2: right; None: neither, or every remainder at rounding level,
    ``exact``)."""

    steps: tuple[float, ...]
    rates: tuple[float, ...]
    order: int | None
    exact: bool = False

    def describe(self) -> str:
        """One sentence for the failure report."""
        if self.exact:
            return (
                "the remainder is at rounding level for every step: the function is linear "
                "along a random direction and the gradient matches it there"
            )
        if not self.rates:
            return "no step gave a remainder clear of rounding noise (nothing to read)"
        rates = ", ".join(f"{r:.2f}" for r in self.rates)
        where = f"rates {rates} for h = {self.steps[0]:.2g} down to {self.steps[-1]:.2g} (halved)"
        if self.order == 1:
            return (
                f"{where}: the remainder shrinks as h, not h^2 - the gradient is wrong along a "
                "random direction (step-free: no tolerance involved)"
            )
        if self.order == 2:
            return (
                f"{where}: the remainder shrinks as h^2 - the gradient is right along a random "
                "direction"
            )
        return f"{where}: neither h (wrong) nor h^2 (right): a kink near, or noise"


def taylor_test(
    phi: ScalarFunction,
    x: Sequence[F64],
    v: Sequence[F64],
    slope: float,
    *,
    h0: float = 0.1,
    halvings: int = 32,
    slope_rounding: float = 0.0,
    eps: float = float(np.finfo(np.float64).eps),
) -> TaylorTest:
    """Expand ``phi`` at ``x`` along ``v`` with the claimed directional derivative ``slope``
    (``<grad, v>``), for ``h = h0 / 2**k``, ``k = 0 .. halvings``. ``slope_rounding``: how far
    ``slope`` may be off by its own dtype's rounding (a float32 gradient's ``eps32 * sum
    |terms|``); ``eps``: the rounding of ``phi``'s evaluations."""
    base = float(phi(x))
    steps: list[float] = []
    remainders: list[float] = []
    trusted: list[bool] = []
    for k in range(halvings + 1):
        h = h0 / 2.0**k
        moved = float(phi([xi + h * vi for xi, vi in zip(x, v, strict=True)]))
        remainder = abs(moved - base - h * slope)
        noise = _CLEAR_OF_NOISE * eps * (abs(base) + abs(moved) + abs(h * slope))
        noise += 8.0 * h * slope_rounding
        steps.append(h)
        remainders.append(remainder)
        trusted.append(math.isfinite(remainder) and remainder > noise)
    if not any(trusted):
        return TaylorTest((), (), None, exact=all(math.isfinite(r) for r in remainders))
    # the last run of consecutive trusted steps: the smallest steps clear of the noise
    end = max(k for k, ok in enumerate(trusted) if ok)
    start = end
    while start > 0 and trusted[start - 1] and end - start < _WINDOW:
        start -= 1
    window = range(start, end)
    rates = tuple(math.log2(remainders[k] / remainders[k + 1]) for k in window)
    if not rates:
        return TaylorTest((steps[end],), (), None)
    middle = float(np.median(rates))
    order = 1 if middle <= 1.3 else 2 if middle >= 1.7 else None
    return TaylorTest(tuple(steps[start : end + 1]), rates, order)


def failure_taylor(ex: Example, jac: Jacobians, reference: ArrayFunction) -> TaylorTest | None:
    """The Taylor remainder test of ``phi(x) = <u, f(x)>`` along a random ``v``, with the
    analytic slope ``uᵀJv`` from the failing Jacobian (None when the reference is not float64,
    or it raises)."""
    if ex.reference != "float64":
        return None
    rng = np.random.default_rng(ex.seed + 2)
    us = [random_direction(rng, shape, "float64") for shape in jac.output_shapes]
    vs = [random_direction(rng, x.shape, "float64") for x in ex.inputs]
    slope = terms = 0.0
    for k, blocks in enumerate(jac.analytic):
        for i, a in enumerate(blocks):
            u, v = us[k].reshape(-1), vs[i].reshape(-1)
            slope += float(u @ a @ v)
            terms += float(np.abs(u) @ np.abs(a) @ np.abs(v))
    x = [np.asarray(a, dtype=np.float64) for a in ex.inputs]
    spec = ex.target.spec
    h0 = 0.1
    for _ in range(20):  # stay inside the domain (where the example lies inside it)
        domains = [spec.domain(i) for i in range(len(x))]
        if all(
            not d.contains(xi) or d.contains(xi + h0 * vi)
            for d, xi, vi in zip(domains, x, vs, strict=True)
        ):
            break
        h0 /= 2

    def phi(xs: Sequence[F64]) -> float:
        ys = reference(*xs)
        return float(
            sum(np.sum(u * np.asarray(y, np.float64)) for u, y in zip(us, ys, strict=True))
        )

    try:
        return taylor_test(
            phi, x, vs, slope, h0=h0, slope_rounding=float(np.finfo(ex.dtype).eps) * terms
        )
    except Exception:  # noqa: BLE001 - a second opinion only: a forward raising gives none
        return None


def taylor_text(taylor: TaylorTest | None, kink_near: bool) -> str:
    """The report's ``taylor test:`` line (empty when the test did not run)."""
    if taylor is None:
        return ""
    caveat = " (a kink is near: the rates may show it, not the gradient)" if kink_near else ""
    return f"{taylor.describe()}{caveat}; phi = <u, f(x)> for random u, v, at this example"
