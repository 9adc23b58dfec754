"""The full Jacobian check: analytic and numerical Jacobians compared entry by entry, with the
declared convention at kinks and ties. It decides pass or fail; ``diagnose`` explains a fail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.opdef import KinkRule, Ties
from dezero_ext.testing.example import Example
from dezero_ext.testing.numerical import F64, ArrayFunction, Derivative, numerical_jacobian
from dezero_ext.testing.protocol import Declaration, Pullback
from dezero_ext.testing.report import Entry
from dezero_ext.testing.stacked import StackedFunction

__all__ = ["Jacobians", "Verdict", "compare", "jacobians", "rule_target", "tied"]

Rule = KinkRule | Ties
"""A convention at a kink: an input's kink rule, or the op's ties (never ``"none"`` here)."""


@dataclass(frozen=True, slots=True)
class Jacobians:
    """Analytic and numerical Jacobian blocks ``[output][input]``, each ``(out.size, in.size)``."""

    analytic: list[list[F64]]
    numerical: list[list[Derivative]]
    output_shapes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The entry-by-entry comparison: ``worst`` is the entry furthest beyond its allowed error
    (``worst_ratio`` times it), ``rel_error`` the largest relative error at smooth entries,
    ``kink_hits`` the entries on a kink that matched the convention."""

    passed: bool
    worst: Entry | None
    worst_ratio: float
    rel_error: float
    kink_hits: int
    per_input: tuple[str, ...]


def jacobians(
    ex: Example,
    pullback: Pullback,
    outputs: Sequence[Array],
    reference: ArrayFunction,
    stacked: StackedFunction | None = None,
) -> Jacobians:
    """The analytic Jacobian (one pullback per output element) and the numerical one
    (``stacked``: ``reference`` on stacked points, ``numerical_jacobian``)."""
    analytic: list[list[F64]] = []
    for k, y in enumerate(outputs):
        rows: list[list[F64]] = [[] for _ in ex.inputs]
        for m in range(y.size):
            vs = [np.zeros(other.shape, dtype=ex.dtype) for other in outputs]
            vs[k].reshape(-1)[m] = 1
            for i, g in enumerate(pullback(vs)):
                rows[i].append(np.asarray(g, dtype=np.float64).reshape(-1))
        analytic.append(
            [
                np.stack(r) if r else np.zeros((0, x.size))
                for r, x in zip(rows, ex.inputs, strict=True)
            ]
        )
    x_ref = [np.asarray(x, dtype=ex.reference) for x in ex.inputs]
    numerical = numerical_jacobian(
        reference, x_ref, dtype=ex.reference, rtol=ex.rtol / 4, atol=ex.atol / 4, stacked=stacked
    )
    return Jacobians(analytic, numerical, tuple(y.shape for y in outputs))


def tied(inputs: Sequence[Array]) -> list[Array]:
    """Per input, whether each element equals another element of any input."""
    values = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in inputs])
    unique, counts = np.unique(values, return_counts=True)
    repeated = unique[counts > 1]
    return [np.isin(np.asarray(x, dtype=np.float64).reshape(-1), repeated) for x in inputs]


def rule_target(rule: Rule, a: F64, left: F64, right: F64) -> F64:
    """The value the convention allows that is nearest to the analytic ``a``."""
    if rule == "left":
        return left
    if rule == "right":
        return right
    if rule == "mean":
        target: F64 = (left + right) / 2
        return target
    if rule == "first":
        return np.where(np.abs(a - left) <= np.abs(a - right), left, right)
    return np.clip(a, np.minimum(left, right), np.maximum(left, right))


@dataclass(frozen=True, slots=True)
class _Block:
    """One ``[output][input]`` block judged: the value expected at each entry (the convention's
    on a kink), its error and allowed error."""

    expected: F64
    error: F64
    allowed: F64
    kink_hits: int
    rel_error: float


def _judge(
    a: F64,
    d: Derivative,
    rule: KinkRule,
    on_tie: Array | None,
    ties: Ties,
    rtol: float,
    atol: float,
    higher: bool = False,
) -> _Block:
    n, kink = d.central, d.kink
    # The reference cannot be more accurate than its own rounding: that much more is allowed.
    allowed = atol + rtol * np.abs(n) + d.rounding
    error = np.abs(a - n)
    hits = 0
    if kink.any() and higher:
        # At order 2 and up the checked function is a derivative, which jumps at a kink or a
        # tie of the op (maximum's first derivative at x0 == x1): no convention is declared
        # for its derivative there, so any value between its one-sided derivatives passes,
        # each taken from the samples on its own side (the value at the jump is neither's).
        left, right = d.outer()
        target = np.clip(a, np.minimum(left, right), np.maximum(left, right))
        rule_error = np.abs(a - target)
        # two samples a side give a first-order estimate (error about 3/4 step times the
        # curvature): four times the tolerance
        kink_allowed = 4 * (atol + rtol * np.maximum(np.abs(left), np.abs(right)))
        n = np.where(kink, target, n)
        error = np.where(kink, rule_error, error)
        allowed = np.where(kink, kink_allowed, allowed)
        hits = int(np.count_nonzero(kink & (rule_error <= kink_allowed)))
    elif kink.any():
        target = rule_target(rule, a, d.left, d.right)
        if on_tie is not None and ties != "none":
            tie_mask = np.broadcast_to(on_tie.reshape(1, -1), a.shape)
            target = np.where(tie_mask, rule_target(ties, a, d.left, d.right), target)
        rule_error = np.abs(a - target)
        kink_allowed = atol + rtol * np.maximum(np.abs(d.left), np.abs(d.right))
        n = np.where(kink, target, n)  # what the convention expects there
        error = np.where(kink, rule_error, error)
        allowed = np.where(kink, kink_allowed, allowed)
        hits = int(np.count_nonzero(kink & (rule_error <= kink_allowed)))
    smooth = ~kink
    rel = 0.0
    if smooth.any():
        rel = float((error / np.maximum(np.abs(n), atol))[smooth].max())
    return _Block(n, error, allowed, hits, rel)


def _index(flat: int | np.integer, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(flat), shape)) if shape else ()


def _per_input(ratios: list[float], bad: list[int], sizes: list[int]) -> tuple[str, ...]:
    return tuple(
        f"input {i}: "
        + (
            f"WRONG in {n} of {size} Jacobian entries (worst error {ratio:.3g}x allowed)"
            if n
            else f"ok in {size} Jacobian entries (worst error {ratio:.3g}x allowed)"
        )
        for i, (ratio, n, size) in enumerate(zip(ratios, bad, sizes, strict=True))
    )


def compare(
    jac: Jacobians,
    inputs: Sequence[Array],
    spec: Declaration,
    rtol: float,
    atol: float,
    order: int = 1,
) -> Verdict:
    """Compare every entry: ``|analytic - numerical| <= atol + rtol * |numerical|``, or, for
    an entry on a kink, the declared convention against the one-sided derivatives (at
    ``order`` 2 and up, where the function checked is a derivative: any value between them)."""
    ties = tied(inputs) if spec.ties != "none" else None
    worst: Entry | None = None
    worst_ratio, rel_error, kink_hits = 0.0, 0.0, 0
    ratios, bad, sizes = [0.0] * len(inputs), [0] * len(inputs), [0] * len(inputs)
    for k, blocks in enumerate(jac.analytic):
        for i, a in enumerate(blocks):
            d = jac.numerical[k][i]
            on_tie = ties[i] if ties is not None else None
            rule = spec.domain(i).kink_rule
            block = _judge(a, d, rule, on_tie, spec.ties, rtol, atol, order > 1)
            kink_hits += block.kink_hits
            rel_error = max(rel_error, block.rel_error)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(np.isfinite(block.error), block.error / block.allowed, np.inf)
            sizes[i] += ratio.size
            if ratio.size == 0:
                continue
            m, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
            ratios[i] = max(ratios[i], float(ratio[m, j]))
            bad[i] += int(np.count_nonzero(ratio > 1))
            if float(ratio[m, j]) > worst_ratio or worst is None:
                worst_ratio = float(ratio[m, j])
                worst = Entry(
                    i,
                    _index(j, np.shape(inputs[i])),
                    k,
                    _index(m, jac.output_shapes[k]),
                    float(a[m, j]),
                    float(block.expected[m, j]),
                    float(block.error[m, j]),
                    float(block.allowed[m, j]),
                    float(d.step[m, j]),
                    bool(d.kink[m, j]),
                )
    passed = worst_ratio <= 1.0
    return Verdict(passed, worst, worst_ratio, rel_error, kink_hits, _per_input(ratios, bad, sizes))
