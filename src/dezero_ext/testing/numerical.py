"""Numerical differentiation: central differences in float64, with a step set by dtype and scale.

Everything here works on NumPy arrays through a function ``f(*arrays) -> tuple of arrays``,
so it is independent of the autodiff engine it checks. The step for an element ``x`` is
``cbrt(eps) * max(1, |x|)`` where ``eps`` is the machine epsilon of the dtype the function
is evaluated in: the step that balances truncation and rounding error of a central difference
(about 6e-6 in float64, 5e-3 in float32), not a fixed constant.

The derivative is taken from five samples (``x``, ``x ± h/2``, ``x ± h``): a Richardson
combination of the two central differences, the one-sided derivatives on either side and
Chainer's test for a non-differentiable point (a quadratic that fits the five samples badly
means a kink or a jump lies within the step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
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

# Offsets of the five samples, in units of the step h.
_OFFSETS = (-1.0, -0.5, 0.0, 0.5, 1.0)
# Chainer's detector: a quadratic fit whose RMS residual exceeds this share of the sampled
# range (plus rounding noise) flags a non-differentiable point within the step.
_KINK_RTOL = 1e-2


def step_size(x: npt.ArrayLike, dtype: npt.DTypeLike = np.float64) -> F64:
    """The central-difference step for each element of ``x``: ``cbrt(eps) * max(1, |x|)``."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    magnitude = np.abs(np.asarray(x, dtype=np.float64))
    step: F64 = np.asarray(np.cbrt(eps) * np.maximum(1.0, magnitude), dtype=np.float64)
    return step


@dataclass(frozen=True, slots=True)
class Derivative:
    """A derivative estimated from five samples ``f(x + s*h)``, ``s`` in -1, -1/2, 0, 1/2, 1.

    ``central`` is the Richardson-extrapolated central difference, ``left``/``right`` the
    one-sided derivatives (second-order accurate), ``kink`` whether the samples show a
    non-differentiable point within ``step`` of ``x``.
    """

    central: F64
    left: F64
    right: F64
    kink: npt.NDArray[np.bool_]
    step: float


def derivative_from_samples(samples: Sequence[npt.ArrayLike], step: float) -> Derivative:
    """The derivative at the middle sample of five taken at ``x + (-1, -1/2, 0, 1/2, 1) * step``.

    The samples may be arrays (one derivative per element).
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
    return Derivative(central, left, right, kink, h)


def _evaluate(f: ArrayFunction, xs: Sequence[F64]) -> tuple[F64, ...]:
    return tuple(np.asarray(y, dtype=np.float64) for y in f(*xs))


def directional_derivative(
    f: ArrayFunction,
    inputs: Sequence[npt.ArrayLike],
    directions: Sequence[npt.ArrayLike],
    cotangents: Sequence[npt.ArrayLike] | None = None,
    *,
    dtype: npt.DTypeLike = np.float64,
) -> Derivative:
    """``d/dt <v, f(x + t u)>`` at ``t = 0``: the projection ``vᵀ J u`` of the Jacobian.

    ``f`` is evaluated on float64 copies of ``inputs``; ``dtype`` sets the step (the dtype
    ``f`` really computes in). With no ``cotangents`` every output element counts once.
    """
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    us = [np.asarray(u, dtype=np.float64) for u in directions]
    scale = max([float(np.abs(x).max(initial=0.0)) for x in xs], default=0.0)
    norm = max([float(np.abs(u).max(initial=0.0)) for u in us], default=1.0) or 1.0
    h = float(step_size(scale, dtype)) / norm
    samples: list[float] = []
    for s in _OFFSETS:
        ys = _evaluate(f, [x + s * h * u for x, u in zip(xs, us, strict=True)])
        vs = cotangents if cotangents is not None else [np.ones_like(y) for y in ys]
        samples.append(float(sum(np.sum(np.asarray(v) * y) for v, y in zip(vs, ys, strict=True))))
    return derivative_from_samples(samples, h)


def numerical_jacobian(
    f: ArrayFunction, inputs: Sequence[npt.ArrayLike], *, dtype: npt.DTypeLike = np.float64
) -> list[list[Derivative]]:
    """The Jacobian of ``f`` at ``inputs``, one block per (output, input) pair.

    ``result[k][i].central`` has shape ``(outputs[k].size, inputs[i].size)``; ``left``,
    ``right`` and ``kink`` give the one-sided derivatives and kink flags entry by entry.
    Each input element is perturbed on its own (four evaluations of ``f`` per element).
    """
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    base = _evaluate(f, xs)
    columns: list[list[list[Derivative]]] = [[[] for _ in xs] for _ in base]
    for i, x in enumerate(xs):
        steps = step_size(x, dtype).reshape(-1)
        for j in range(x.size):
            h = float(steps[j])
            samples: list[tuple[F64, ...]] = []
            for s in _OFFSETS:
                if s == 0.0:
                    samples.append(base)
                    continue
                moved = x.copy().reshape(-1)
                moved[j] += s * h
                args = [*xs[:i], moved.reshape(x.shape), *xs[i + 1 :]]
                samples.append(_evaluate(f, args))
            for k in range(len(base)):
                column = derivative_from_samples([ys[k].reshape(-1) for ys in samples], h)
                columns[k][i].append(column)
    return [
        [_stack_columns(cols, base[k].size, xs[i].size) for i, cols in enumerate(per_input)]
        for k, per_input in enumerate(columns)
    ]


def _stack_columns(columns: list[Derivative], rows: int, cols: int) -> Derivative:
    if not columns:
        empty = np.zeros((rows, cols))
        return Derivative(empty, empty, empty, np.zeros((rows, cols), dtype=bool), 0.0)
    return Derivative(
        np.stack([c.central for c in columns], axis=1).reshape(rows, cols),
        np.stack([c.left for c in columns], axis=1).reshape(rows, cols),
        np.stack([c.right for c in columns], axis=1).reshape(rows, cols),
        np.stack([c.kink for c in columns], axis=1).reshape(rows, cols),
        max(c.step for c in columns),
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
