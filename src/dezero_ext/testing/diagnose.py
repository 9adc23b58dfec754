"""Entry-by-entry comparison of analytic and numerical Jacobians, and the likely cause of a
mismatch (sign, constant factor, transposition, a dropped input, a kink convention, precision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from dezero_ext.core.variable import Array

if TYPE_CHECKING:
    from dezero_ext.testing.gradcheck import Jacobians
    from dezero_ext.testing.numerical import F64

__all__ = ["Entry", "Verdict", "compare", "exception_causes"]

Rule = Literal["left", "right", "mean", "between", "first", "split"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One Jacobian entry: d output[k][output_index] / d input[i][input_index]."""

    output: int
    output_index: tuple[int, ...]
    input: int
    input_index: tuple[int, ...]
    analytic: float
    numerical: float
    error: float
    allowed: float
    step: float
    kink: bool
    kink_detail: str


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    worst: Entry | None
    worst_ratio: float
    rel_error: float
    kink_hits: int
    per_input: tuple[str, ...]
    causes: tuple[str, ...]


def _tied(inputs: Sequence[Array]) -> list[Array]:
    """Per input, whether each element equals another element of any input."""
    values = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in inputs])
    unique, counts = np.unique(values, return_counts=True)
    repeated = unique[counts > 1]
    return [np.isin(np.asarray(x, dtype=np.float64).reshape(-1), repeated) for x in inputs]


def _rule_error(rule: Rule, a: F64, left: F64, right: F64) -> F64:
    if rule == "left":
        return np.abs(a - left)
    if rule == "right":
        return np.abs(a - right)
    if rule == "mean":
        return np.abs(a - (left + right) / 2)
    if rule == "first":
        return np.minimum(np.abs(a - left), np.abs(a - right))
    low, high = np.minimum(left, right), np.maximum(left, right)
    return np.maximum(0.0, np.maximum(low - a, a - high))


def compare(
    jac: Jacobians,
    inputs: Sequence[Array],
    kink_rules: Sequence[Rule],
    ties: Literal["none", "first", "split"],
    rtol: float,
    atol: float,
) -> Verdict:
    """Compare every entry: ``|analytic - numerical| <= atol + rtol * |numerical|``, or, for
    an entry on a kink, the op's convention against the one-sided derivatives."""
    tied = _tied(inputs) if ties != "none" else [np.zeros(np.size(x), dtype=bool) for x in inputs]
    worst: Entry | None = None
    worst_ratio = 0.0
    rel_error = 0.0
    kink_hits = 0
    input_ratio = [0.0] * len(inputs)
    input_bad = [0] * len(inputs)
    for k, blocks in enumerate(jac.analytic):
        for i, a in enumerate(blocks):
            d = jac.numerical[k][i]
            n, left, right, kink = d.central, d.left, d.right, d.kink
            allowed = atol + rtol * np.abs(n)
            error = np.abs(a - n)
            if kink.any():
                rule: Rule = kink_rules[i] if i < len(kink_rules) else "between"
                on_tie = np.broadcast_to(tied[i].reshape(1, -1), a.shape)
                rule_error = _rule_error(rule, a, left, right)
                if ties != "none":
                    rule_error = np.where(on_tie, _rule_error(ties, a, left, right), rule_error)
                kink_allowed = atol + rtol * np.maximum(np.abs(left), np.abs(right))
                error = np.where(kink, rule_error, error)
                allowed = np.where(kink, kink_allowed, allowed)
                kink_hits += int(np.count_nonzero(kink & (rule_error <= kink_allowed)))
            smooth = ~kink
            if smooth.any():
                scale = np.maximum(np.abs(n), atol)
                rel_error = max(rel_error, float((error / scale)[smooth].max()))
            ratio = error / allowed
            if ratio.size == 0:
                continue
            flat = int(np.argmax(ratio))
            m, j = np.unravel_index(flat, ratio.shape)
            input_ratio[i] = max(input_ratio[i], float(ratio[m, j]))
            input_bad[i] += int(np.count_nonzero(ratio > 1))
            if float(ratio[m, j]) > worst_ratio or worst is None:
                worst_ratio = float(ratio[m, j])
                on_kink = bool(kink[m, j])
                detail = ""
                if on_kink:
                    which = (
                        f"ties={ties!r}"
                        if ties != "none" and bool(tied[i][j])
                        else f"kink_rule={kink_rules[i] if i < len(kink_rules) else 'between'!r}"
                    )
                    detail = (
                        f"one-sided derivatives left {float(left[m, j]):.6g}, right "
                        f"{float(right[m, j]):.6g}; the op declares {which}"
                    )
                worst = Entry(
                    k,
                    _index(m, jac.output_shapes[k]),
                    i,
                    _index(j, np.shape(inputs[i])),
                    float(a[m, j]),
                    float(n[m, j]),
                    float(error[m, j]),
                    float(allowed[m, j]),
                    d.step,
                    on_kink,
                    detail,
                )
    passed = worst_ratio <= 1.0
    per_input = tuple(
        f"input {i}: "
        + (
            f"WRONG in {input_bad[i]} Jacobian entries (worst error {input_ratio[i]:.3g}x allowed)"
            if input_bad[i]
            else f"ok (worst error {input_ratio[i]:.3g}x allowed)"
        )
        for i in range(len(inputs))
    )
    causes = () if passed else _causes(jac, inputs, worst, rtol, atol, worst_ratio)
    return Verdict(passed, worst, worst_ratio, rel_error, kink_hits, per_input, causes)


def _index(flat: int | np.integer, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(flat), shape)) if shape else ()


def _causes(
    jac: Jacobians,
    inputs: Sequence[Array],
    worst: Entry | None,
    rtol: float,
    atol: float,
    worst_ratio: float,
) -> tuple[str, ...]:
    if worst is None:
        return ()
    if worst.kink:
        return (
            "kink: this entry sits on a non-differentiable point and the analytic value breaks "
            "the convention the op declares (Domain.kink_rule / OpDef.ties); fix the backward "
            "there or declare the convention it follows",
        )
    i = worst.input
    a = np.concatenate([jac.analytic[k][i] for k in range(len(jac.analytic))])
    n = np.concatenate([jac.numerical[k][i].central for k in range(len(jac.numerical))])
    causes: list[str] = []
    significant = np.abs(n) > 10 * (atol + rtol * np.abs(n))
    if significant.any():
        ratios = a[significant] / n[significant]
        factor = float(np.median(ratios))
        if np.allclose(ratios, factor, rtol=1e-3, atol=0) and abs(factor - 1) > 10 * rtol:
            if abs(factor + 1) < 1e-3:
                causes.append(f"sign flipped: the gradient of input {i} is -1 x the numerical one")
            elif abs(factor) < 1e-12:
                causes.append(
                    f"dropped: the gradient of input {i} is zero where it should not be "
                    "(is the input detached through .data, or its gradient not returned?)"
                )
            else:
                off = (
                    " (a factor off by 2)" if min(abs(factor - 2), abs(factor - 0.5)) < 1e-3 else ""
                )
                causes.append(
                    f"constant factor: the gradient of input {i} is {factor:.6g} x the "
                    f"numerical one everywhere{off}"
                )
    shape = np.shape(inputs[i])
    if not causes and len(shape) >= 2 and shape[-1] == shape[-2] and shape[-1] > 1:
        axes = list(range(len(shape)))
        axes[-1], axes[-2] = axes[-2], axes[-1]
        swapped = np.concatenate(
            [
                jac.numerical[k][i]
                .central.reshape(-1, *shape)
                .transpose(0, *(x + 1 for x in axes))
                .reshape(-1, int(np.prod(shape)))
                for k in range(len(jac.numerical))
            ]
        )
        if np.allclose(a, swapped, rtol=10 * rtol, atol=10 * atol):
            causes.append(
                f"transposed: the gradient of input {i} matches the numerical one with its last "
                "two axes swapped (a missing or extra transpose in backward)"
            )
    if not causes and worst_ratio < 10:
        causes.append(
            "precision?: the error is within 10x the tolerance; if the op is ill-conditioned "
            "here, narrow its Domain or raise its Tolerance"
        )
    if not causes:
        causes.append(
            f"wrong formula: the gradient of input {i} differs from the numerical derivative; "
            "compare backward with the derivative of forward"
        )
    return tuple(causes)


def exception_causes(exc: BaseException) -> tuple[str, ...]:
    """The likely cause when ``backward`` raised."""
    text = str(exc)
    if "shape" in text:
        return (
            "shape/broadcast: backward returned a gradient that does not have its input's "
            "shape; for an input that was broadcast, sum the gradient back with "
            "sum_to(gx, x.shape)",
        )
    if "gradients for" in text:
        return ("arity: backward must return one gradient per input, in input order",)
    return ("backward raised: see the problem line",)
