"""Numerical differentiation: central differences, with a step that follows the scale of the
values involved.

Everything here works on NumPy arrays through a function ``f(*arrays) -> tuple of arrays``,
so it is independent of the autodiff engine it checks.

The derivative is taken from five samples (``x``, ``x ± h/2``, ``x ± h``): a Richardson
combination of the two central differences, the one-sided derivatives on either side and
Chainer's test for a non-differentiable point (a quadratic that fits the five samples badly
means a kink or a jump lies within the step). Each estimate carries its own error estimate:
``rounding`` (the evaluation error of the samples, ``eps`` times their magnitude, divided by
the step) and ``truncation`` (the difference of the two central differences).

The first step for an element ``x`` is ``cbrt(eps) * max(1, |x|)``, where ``eps`` is the
machine epsilon of the dtype the function is evaluated in: the step that balances truncation
and rounding error for values of order one (about 6e-6 in float64, 5e-3 in float32). Where
that estimate cannot be trusted to the accuracy asked for (``rtol``, ``atol``), the step
follows the values instead: smaller where the samples show a kink, leave the function's
domain or curve too much within the step (``log`` near 0), larger where rounding dominates
(``x + 1e8``), decade by decade, keeping the most accurate estimate. A kink that stays at
every step is a kink at ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from dezero_ext.testing.stacked import StackedFunction, evaluate_points

__all__ = [
    "ACCURACY",
    "ArrayFunction",
    "Derivative",
    "F64",
    "derivative_from_samples",
    "directional_derivative",
    "numerical_jacobian",
    "numerical_vjp",
    "step_size",
]

F64: TypeAlias = npt.NDArray[np.float64]
"""A float64 array: what every numerical result is."""

ArrayFunction: TypeAlias = Callable[..., tuple[npt.NDArray[np.floating], ...]]
"""``f(*arrays) -> (array, ...)``: the function differentiated."""


ACCURACY: Final = (2.5e-6, 2.5e-7)
"""The default ``(rtol, atol)`` a derivative is refined to: a quarter of the float64 check's
tolerance."""

# Offsets of the five samples, in units of the step h.
_OFFSETS = (-1.0, -0.5, 0.0, 0.5, 1.0)
# Chainer's detector: a quadratic fit whose RMS residual exceeds this share of the sampled
# range (plus rounding noise) flags a non-differentiable point within the step.
_KINK_RTOL = 1e-2
# The samples' evaluation error, in units of eps times their magnitude (a correctly rounded
# result and its rounded input), and the weight of the Richardson combination (sum |c| = 3/h).
_ULPS = 2.0
_WEIGHT = 3.0
# Where the first step is not trusted: the decades tried below it (a kink, a boundary, too
# much curvature) and above it (rounding).
_DOWN: Final = tuple(10.0**-k for k in range(1, 7))
_UP: Final = tuple(10.0**k for k in range(1, 5))
_SQUARES: Final = tuple(s * s for s in _OFFSETS)
_EPS64: Final = float(np.finfo(np.float64).eps)
_MAX64: Final = float(np.finfo(np.float64).max)  # what nan_to_num makes of an infinity


def step_size(x: npt.ArrayLike, dtype: npt.DTypeLike = np.float64) -> F64:
    """The first central-difference step for each element of ``x``: ``cbrt(eps) * max(1, |x|)``."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    magnitude = np.abs(np.asarray(x, dtype=np.float64))
    step: F64 = np.asarray(np.cbrt(eps) * np.maximum(1.0, magnitude), dtype=np.float64)
    return step


@dataclass(frozen=True, slots=True)
class Derivative:
    """A derivative estimated from five samples ``f(x + s*h)``, ``s`` in -1, -1/2, 0, 1/2, 1.

    ``central`` is the Richardson-extrapolated central difference, ``left``/``right`` the
    one-sided derivatives (second-order accurate), ``kink`` whether the samples show a
    non-differentiable point within ``step`` of ``x``; ``step`` is the step of each entry,
    ``rounding`` the error the samples' evaluation error causes in ``central`` (at most), and
    ``truncation`` the difference of the two central differences (a bound on ``central``'s
    truncation error, usually far above it).
    """

    central: F64
    left: F64
    right: F64
    kink: npt.NDArray[np.bool_]
    step: F64
    rounding: F64
    truncation: F64
    outer_left: F64 | None = None
    """The left derivative from the two samples left of ``x`` only (first-order accurate):
    where ``f`` jumps at ``x`` (a first derivative at a tie, checked at order 2) the value at
    ``x`` belongs to neither side, and ``left`` would see the jump; None: ``left``."""
    outer_right: F64 | None = None
    """The same from the two samples right of ``x``."""

    def outer(self) -> tuple[F64, F64]:
        """``(outer_left, outer_right)``, or ``(left, right)`` where they were not taken."""
        left = self.left if self.outer_left is None else self.outer_left
        right = self.right if self.outer_right is None else self.outer_right
        return left, right

    def error(self) -> F64:
        """The estimated error of ``central``: ``inf`` where a kink or a non-finite sample
        makes it meaningless."""
        error: F64 = np.where(
            self.kink | ~np.isfinite(self.central), np.inf, self.rounding + self.truncation
        )
        return error


def derivative_from_samples(
    samples: Sequence[npt.ArrayLike],
    step: float,
    *,
    eps: float = float(np.finfo(np.float64).eps),
    magnitude: npt.ArrayLike | None = None,
) -> Derivative:
    """The derivative at the middle sample of five taken at ``x + (-1, -1/2, 0, 1/2, 1) * step``.

    The samples may be arrays (one derivative per element). ``eps`` is the relative precision
    they were computed in and ``magnitude`` the scale of what was summed into each (default:
    the samples' own), for the rounding error estimate.
    """
    m1, mh, f0, ph, p1 = (np.asarray(s, dtype=np.float64) for s in samples)
    h = step
    coarse = (p1 - m1) / (2 * h)
    fine = (ph - mh) / h
    central: F64 = (4 * fine - coarse) / 3
    right: F64 = (-3 * f0 + 4 * ph - p1) / h
    left: F64 = (3 * f0 - 4 * mh + m1) / h
    stacked = np.stack([m1, mh, f0, ph, p1])
    finite = np.isfinite(stacked)
    # Finiteness changing across the samples is a pole or a boundary inside the step.
    kink = finite.any(axis=0) & ~finite.all(axis=0)
    # Fit a quadratic (in closed form: the samples are symmetric) and measure its residual.
    s = np.asarray(_OFFSETS).reshape((5,) + (1,) * f0.ndim)
    with np.errstate(invalid="ignore", over="ignore"):
        a0 = f0
        a1 = (4 * fine - coarse) / 3 * h  # slope times h, per unit offset
        a2 = (p1 + m1 - 2 * f0) / 2
        fit = a0 + a1 * s + a2 * s**2
        residual = np.sqrt(np.mean((stacked - fit) ** 2, axis=0))
        spread = stacked.max(axis=0) - stacked.min(axis=0)
        noise = 64 * np.finfo(np.float64).eps * (np.abs(stacked).max(axis=0) + 1)
        kink |= finite.all(axis=0) & (residual > _KINK_RTOL * spread + noise)
        scale = np.abs(stacked).max(axis=0) if magnitude is None else np.asarray(magnitude)
        rounding: F64 = np.asarray(_WEIGHT * _ULPS * eps * scale / h, dtype=np.float64)
        truncation: F64 = np.abs(fine - coarse) / 3
    steps: F64 = np.full(central.shape, h)
    outer_left: F64 = (mh - m1) * (2 / h)
    outer_right: F64 = (p1 - ph) * (2 / h)
    return Derivative(
        central, left, right, kink, steps, rounding, truncation, outer_left, outer_right
    )


def _from_scalar_samples(
    samples: Sequence[float], h: float, eps: float, scale: float
) -> Derivative:
    """``derivative_from_samples`` for five Python floats (a projection's samples) with their
    ``magnitude`` given: the same operations in the same order on floats, so the same
    numbers (a test compares them bit for bit), without a NumPy call per operation."""
    m1, mh, f0, ph, p1 = samples
    coarse = (p1 - m1) / (2 * h)
    fine = (ph - mh) / h
    central = (4 * fine - coarse) / 3
    right = (-3 * f0 + 4 * ph - p1) / h
    left = (3 * f0 - 4 * mh + m1) / h
    finite = [math.isfinite(v) for v in samples]
    kink = any(finite) and not all(finite)
    if all(finite):
        a1 = (4 * fine - coarse) / 3 * h
        a2 = (p1 + m1 - 2 * f0) / 2
        total = -0.0  # NumPy's sum of a few elements: in order, from -0.0
        for value, offset, square in zip(samples, _OFFSETS, _SQUARES, strict=True):
            fit = f0 + a1 * offset + a2 * square
            total += (value - fit) * (value - fit)
        residual = math.sqrt(total / 5)
        spread = max(samples) - min(samples)
        noise = 64 * _EPS64 * (max(abs(v) for v in samples) + 1)
        kink = residual > _KINK_RTOL * spread + noise
    rounding = _WEIGHT * _ULPS * eps * scale / h
    truncation = abs(fine - coarse) / 3
    return Derivative(
        _f64(central),
        _f64(left),
        _f64(right),
        np.bool_(kink),  # type: ignore[arg-type]  # a 0-d value, as the array version gives
        np.full((), h),
        _f64(rounding),
        _f64(truncation),
        _f64((mh - m1) * (2 / h)),
        _f64((p1 - ph) * (2 / h)),
    )


def _f64(value: float) -> F64:
    return np.float64(value)  # type: ignore[return-value]  # a NumPy scalar, as a 0-d result


def _refined(
    estimate: Callable[[float], Derivative], h0: float, rtol: float, atol: float
) -> Derivative:
    """The estimate at ``h0``, or, entry by entry, the most accurate one over the decades
    around it where ``h0``'s misses ``atol + rtol * |derivative|``. Entries with a kink at
    every step keep ``h0``'s estimate (and its kink flag)."""
    first = estimate(h0)
    if np.ndim(first.central) == 0:
        return _refined_scalar(estimate, first, h0, rtol, atol)
    steps = _refining(h0, rtol, atol)
    next(steps)  # h0
    try:
        h = steps.send(first)
        while True:
            h = steps.send(estimate(h))
    except StopIteration as done:
        picked: Derivative = done.value
        return picked


Refining: TypeAlias = Generator[float, Derivative, Derivative]
"""``_refined``'s choices as a generator: it yields each step it needs the estimate at, is
sent that estimate, and returns the one it picked (so several run in lockstep)."""


def _refining(h0: float, rtol: float, atol: float) -> Refining:
    first = yield h0
    best_score = _score(first, rtol, atol)
    if np.all(best_score <= 1):
        return first
    best = first
    rounding_bound = bool(np.any(np.isfinite(best_score) & (first.rounding > first.truncation)))
    ladders = [_DOWN, _UP] if not rounding_bound else [_UP, _DOWN]
    for ladder in ladders:
        for factor in ladder:
            candidate = yield h0 * factor
            score = _score(candidate, rtol, atol)
            better = score < best_score
            if better.any():
                best = _pick(better, candidate, best)
                best_score = np.where(better, score, best_score)
            if np.all(best_score <= 1):
                return best
            if not np.isfinite(score).any() and ladder is _UP:
                break  # a larger step only reaches further into what went wrong
    return best


def _in_lockstep(
    h0s: Sequence[float],
    estimates: Callable[[dict[int, float]], dict[int, Derivative]],
    rtol: float,
    atol: float,
) -> list[Derivative]:
    """``_refined`` of each column ``j`` from its first step ``h0s[j]``, all columns at once:
    ``estimates`` takes every step the columns need next (``{j: h}``) in one go. Each column
    takes the steps and picks it would alone."""
    running = {j: _refining(h, rtol, atol) for j, h in enumerate(h0s)}
    wanted = {j: next(steps) for j, steps in running.items()}
    picked: dict[int, Derivative] = {}
    while wanted:
        found = estimates(wanted)
        wanted = {}
        for j, estimate in found.items():
            try:
                wanted[j] = running[j].send(estimate)
            except StopIteration as done:
                picked[j] = done.value
    return [picked[j] for j in range(len(h0s))]


def _refined_scalar(
    estimate: Callable[[float], Derivative], first: Derivative, h0: float, rtol: float, atol: float
) -> Derivative:
    """``_refined`` for one derivative (a projection): the same steps and choices, on floats."""
    best, best_score = first, _score_scalar(first, rtol, atol)
    if best_score <= 1:
        return first
    rounding_bound = math.isfinite(best_score) and bool(first.rounding > first.truncation)
    ladders = [_DOWN, _UP] if not rounding_bound else [_UP, _DOWN]
    for ladder in ladders:
        for factor in ladder:
            candidate = estimate(h0 * factor)
            score = _score_scalar(candidate, rtol, atol)
            if score < best_score:
                best, best_score = candidate, score
            if best_score <= 1:
                return best
            if not math.isfinite(score) and ladder is _UP:
                break  # a larger step only reaches further into what went wrong
    return best


def _score_scalar(d: Derivative, rtol: float, atol: float) -> float:
    """``_score`` of one derivative, as a float."""
    central = float(d.central)
    finite = math.isfinite(central)
    error = float(d.rounding) + float(d.truncation) if finite and not d.kink else math.inf
    if error == 0:
        return 0.0
    magnitude = abs(central) if finite else (0.0 if math.isnan(central) else _MAX64)
    goal = atol + rtol * magnitude
    return error / goal if goal > 0 else math.inf


def _score(d: Derivative, rtol: float, atol: float) -> F64:
    """The estimated error over the error wanted (at most 1: accurate enough)."""
    error = d.error()
    goal = atol + rtol * np.abs(np.nan_to_num(d.central))
    with np.errstate(invalid="ignore", divide="ignore"):
        score: F64 = np.where(goal > 0, error / np.where(goal > 0, goal, 1.0), np.inf)
    return np.where(error == 0, 0.0, score)


def _pick(mask: npt.NDArray[np.bool_], new: Derivative, old: Derivative) -> Derivative:
    def choose(a: F64, b: F64) -> F64:
        chosen: F64 = np.where(mask, a, b)
        return chosen

    return Derivative(
        choose(new.central, old.central),
        choose(new.left, old.left),
        choose(new.right, old.right),
        np.where(mask, new.kink, old.kink),
        choose(new.step, old.step),
        choose(new.rounding, old.rounding),
        choose(new.truncation, old.truncation),
        choose(*_outer(new, old, 0)),
        choose(*_outer(new, old, 1)),
    )


def _outer(new: Derivative, old: Derivative, side: int) -> tuple[F64, F64]:
    return new.outer()[side], old.outer()[side]


def _evaluate(f: ArrayFunction, xs: Sequence[F64]) -> tuple[F64, ...]:
    return tuple(np.asarray(y, dtype=np.float64) for y in f(*xs))


def _eps(dtype: npt.DTypeLike) -> float:
    return float(np.finfo(np.dtype(dtype)).eps)


def directional_derivative(
    f: ArrayFunction,
    inputs: Sequence[npt.ArrayLike],
    directions: Sequence[npt.ArrayLike],
    cotangents: Sequence[npt.ArrayLike] | None = None,
    *,
    dtype: npt.DTypeLike = np.float64,
    rtol: float = ACCURACY[0],
    atol: float = ACCURACY[1],
    stacked: StackedFunction | None = None,
) -> Derivative:
    """``d/dt <v, f(x + t u)>`` at ``t = 0``: the projection ``vᵀ J u`` of the Jacobian.

    ``f`` is evaluated on float64 copies of ``inputs``; ``dtype`` is the dtype ``f`` really
    computes in (its epsilon sets the first step and the rounding estimate). With no
    ``cotangents`` every output element counts once. The step is refined (module docstring)
    until the estimate is within ``atol + rtol * |result|`` where it can be. ``stacked``:
    ``f`` on stacked points (``stacked.py``), for the four points of a step in one call.
    """
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    us = [np.asarray(u, dtype=np.float64) for u in directions]
    scale = max([float(np.abs(x).max(initial=0.0)) for x in xs], default=0.0)
    norm = max([float(np.abs(u).max(initial=0.0)) for u in us], default=1.0) or 1.0
    eps = _eps(dtype)
    weights = None if cotangents is None else [np.asarray(v) for v in cotangents]
    f0: list[tuple[F64, ...]] = []

    def sampled(h: float) -> list[tuple[F64, ...]]:
        """``f`` at the five points ``x + s*h*u`` (the middle one evaluated once)."""
        if stacked is None:  # one call per point, in order
            found: list[tuple[F64, ...]] = []
            for s in _OFFSETS:
                if s == 0.0 and f0:
                    found.append(f0[0])
                    continue
                found.append(_evaluate(f, [x + s * h * u for x, u in zip(xs, us, strict=True)]))
                if s == 0.0:
                    f0.append(found[-1])
            return found
        if not f0:
            f0.append(_evaluate(f, xs))
        moved = [[x + s * h * u for x, u in zip(xs, us, strict=True)] for s in _OFFSETS if s]
        found = evaluate_points(lambda p: _evaluate(f, p), stacked, moved, xs, f0[0])
        return [*found[:2], f0[0], *found[2:]]

    def estimate(h: float) -> Derivative:
        samples: list[float] = []
        products: list[list[F64]] = []
        for ys in sampled(h):
            vs = weights if weights is not None else [np.ones_like(y) for y in ys]
            terms = [v * y for v, y in zip(vs, ys, strict=True)]
            samples.append(float(sum(t.sum() for t in terms)))
            products.append(terms)
        magnitude = 0.0
        with np.errstate(invalid="ignore", over="ignore"):
            for terms in products:
                size = float(sum(np.abs(t).sum() for t in terms))
                magnitude = max(magnitude, size) if math.isfinite(size) else magnitude
        return _from_scalar_samples(samples, h, eps, magnitude)

    return _refined(estimate, float(step_size(scale, dtype)) / norm, rtol, atol)


def numerical_jacobian(
    f: ArrayFunction,
    inputs: Sequence[npt.ArrayLike],
    *,
    dtype: npt.DTypeLike = np.float64,
    rtol: float = ACCURACY[0],
    atol: float = ACCURACY[1],
    stacked: StackedFunction | None = None,
) -> list[list[Derivative]]:
    """The Jacobian of ``f`` at ``inputs``, one block per (output, input) pair.

    ``result[k][i].central`` has shape ``(outputs[k].size, inputs[i].size)``; ``left``,
    ``right`` and ``kink`` give the one-sided derivatives and kink flags entry by entry.
    Each input element is perturbed on its own (four evaluations of ``f`` per element, more
    where its step is refined to reach ``atol + rtol * |entry|``); with ``stacked`` (``f`` on
    stacked points, ``stacked.py``) each step of all of an input's elements in one call.
    """
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    base = _evaluate(f, xs)
    eps = _eps(dtype)
    columns: list[list[list[Derivative]]] = [[[] for _ in xs] for _ in base]

    def moved(i: int, j: int, h: float) -> list[list[F64]]:
        """The arguments with element ``j`` of input ``i`` moved by ``s*h``, ``s`` nonzero."""
        x = xs[i]
        points = []
        for s in _OFFSETS:
            if s:
                flat = x.copy().reshape(-1)
                flat[j] += s * h
                points.append([*xs[:i], flat.reshape(x.shape), *xs[i + 1 :]])
        return points

    def single(args: Sequence[F64]) -> tuple[F64, ...]:
        return _evaluate(f, args)

    for i, x in enumerate(xs):
        steps = step_size(x, dtype).reshape(-1)
        if stacked is not None:

            def estimates(wanted: dict[int, float], i: int = i) -> dict[int, Derivative]:
                every = [p for j, h in wanted.items() for p in moved(i, j, h)]
                found = evaluate_points(single, stacked, every, xs, base)
                return {
                    j: _from_points(found[4 * n : 4 * n + 4], base, h, eps)
                    for n, (j, h) in enumerate(wanted.items())
                }

            found_columns = _in_lockstep([float(h) for h in steps], estimates, rtol, atol)
        else:
            found_columns = []
            for j in range(x.size):

                def estimate(h: float, i: int = i, j: int = j) -> Derivative:
                    return _from_points([single(p) for p in moved(i, j, h)], base, h, eps)

                found_columns.append(_refined(estimate, float(steps[j]), rtol, atol))
        for column in found_columns:
            offset = 0
            for k, y in enumerate(base):
                rows = slice(offset, offset + y.size)
                offset += y.size
                columns[k][i].append(_rows(column, rows))
    return [
        [_stack_columns(cols, base[k].size, xs[i].size) for i, cols in enumerate(per_input)]
        for k, per_input in enumerate(columns)
    ]


def _from_points(
    found: Sequence[tuple[F64, ...]], base: tuple[F64, ...], h: float, eps: float
) -> Derivative:
    """A Jacobian column's derivative from ``f`` at the four moved points and ``base``."""
    samples = [*found[:2], base, *found[2:]]
    flat = [np.concatenate([y.reshape(-1) for y in ys]) for ys in samples]
    return derivative_from_samples(flat, h, eps=eps)


def _rows(d: Derivative, rows: slice) -> Derivative:
    return Derivative(
        d.central[rows],
        d.left[rows],
        d.right[rows],
        d.kink[rows],
        d.step[rows],
        d.rounding[rows],
        d.truncation[rows],
        d.outer()[0][rows],
        d.outer()[1][rows],
    )


def _stack_columns(columns: list[Derivative], rows: int, cols: int) -> Derivative:
    if not columns:
        empty = np.zeros((rows, cols))
        return Derivative(
            empty, empty, empty, np.zeros((rows, cols), dtype=bool), empty, empty, empty
        )

    def stack(name: str) -> F64:
        parts = [getattr(c, name) for c in columns]
        stacked: F64 = np.stack(parts, axis=1).reshape(rows, cols)
        return stacked

    return Derivative(
        stack("central"),
        stack("left"),
        stack("right"),
        np.stack([c.kink for c in columns], axis=1).reshape(rows, cols),
        stack("step"),
        stack("rounding"),
        stack("truncation"),
        np.stack([c.outer()[0] for c in columns], axis=1).reshape(rows, cols),
        np.stack([c.outer()[1] for c in columns], axis=1).reshape(rows, cols),
    )


def numerical_vjp(
    f: ArrayFunction,
    inputs: Sequence[npt.ArrayLike],
    cotangents: Sequence[npt.ArrayLike] | None = None,
    *,
    dtype: npt.DTypeLike = np.float64,
) -> list[F64]:
    """``vᵀ J``: the gradient of ``<v, f(x)>`` with respect to each input, by central
    differences (``v`` = ones when no ``cotangents`` are given: the gradient of the sum)."""
    jacobian = numerical_jacobian(f, inputs, dtype=dtype)
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    grads: list[F64] = []
    for i, x in enumerate(xs):
        total = np.zeros(x.size)
        for k, blocks in enumerate(jacobian):
            block = blocks[i].central
            v = (
                np.ones(block.shape[0])
                if cotangents is None
                else np.asarray(cotangents[k], dtype=np.float64).reshape(-1)
            )
            total += v @ block
        grads.append(total.reshape(x.shape))
    return grads
