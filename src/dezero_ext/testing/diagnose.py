"""Diagnosis of a failed check, run only on a failure: the likely cause (sign, constant factor,
transposition, a dropped input, a kink convention, precision, an exception), the kink analysis
of the worst entry, and second opinions (the same example in float64, at the order below; the
Taylor remainder test, which needs no step and no tolerance).

A cause is named only on the evidence for it, and says what it rests on: a constant factor
must hold on many entries (``_MANY``), gathered from this example and from other inputs drawn
from the domain; "raise the tolerance" is suggested only when the error is within a few times
the allowed one and the Taylor test finds the gradient right.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Domain
from dezero_ext.testing.errors import Evidence
from dezero_ext.testing.example import Example
from dezero_ext.testing.jacobian import Jacobians, tied
from dezero_ext.testing.numerical import F64
from dezero_ext.testing.report import Entry, Failure
from dezero_ext.testing.taylor import TaylorTest, failure_taylor, taylor_text

__all__ = [
    "DTYPE_CAUSE",
    "INPLACE_CAUSE",
    "STATE_CAUSE",
    "SUM_TO_CAUSE",
    "Rerun",
    "exception_causes",
    "explain",
]

SUM_TO_CAUSE = "shape/broadcast: sum a broadcast gradient back with sum_to"
INPLACE_CAUSE = (
    "in place: the op writes into an array it receives (x.data[...] = ..., np.exp(x, out=x), "
    "gy.data *= ...); the graph and the caller still hold that array - compute into a new one"
)
STATE_CAUSE = (
    "state: the gradient is right for one call on this example but wrong when the op is "
    "composed (the variant above): it keeps state between instances or calls (a class attribute, "
    "a module-level variable, a cache) - keep what backward needs on the instance (self) or "
    "in its saved arrays"
)
DTYPE_CAUSE = (
    "dtype: backward promoted the gradient to {dtype}; compute it from the Variables it "
    "receives (a Python number stays weak, np.float64(...) does not)"
)

_MANY = 8
"""The fewest entries (where the numerical derivative is not ~0) a constant factor must hold on."""
_PRECISION = 4.0
"""The most times the allowed error at which "raise the tolerance" may be suggested."""

Rerun = Callable[[str, int], bool]
Alone = tuple[Example, Callable[[Sequence[Array]], Jacobians | None]]
"""For a composition's failure: the op's own example and its order-1 Jacobians at other
inputs (None where it raises there)."""
"""``(dtype, order) -> passed``: the failing example's check run again in ``dtype`` at
``order`` (the pass/fail path only)."""


def explain(
    failure: Failure, evidence: Evidence, rerun: Rerun | None, alone: Alone | None = None
) -> Failure:
    """``failure`` with its likely causes, kink analysis and second opinions added; for a
    composition, ``alone`` tells state from the op's own gradient being wrong elsewhere."""
    causes = list(failure.causes)
    detail = failure.kink_detail
    if evidence.exception is not None:
        causes += exception_causes(evidence.exception)
    jac, worst = evidence.jacobians, failure.worst
    taylor: TaylorTest | None = None
    if jac is not None and worst is not None:
        if failure.kind == "mismatch" and evidence.reference is not None:
            taylor = failure_taylor(failure.example, jac, evidence.reference)
        plain = not worst.kink and not failure.example.composed  # a composition: see alone
        others = _others(failure.example, jac, worst, evidence) if plain else []
        causes += _jacobian_causes(failure, jac, worst, evidence.worst_ratio, taylor, others)
        detail = detail or _kink_detail(failure, jac, worst)
    notes: list[str] = []
    if failure.example.composed and failure.kind in ("mismatch", "kink"):
        causes = [_state_cause(alone), *causes]
    elif rerun is not None and failure.kind in ("mismatch", "kink"):
        causes, notes = _second_opinions(failure, rerun, causes)
    return replace(
        failure,
        causes=tuple(causes),
        notes=failure.notes + tuple(notes),
        kink_detail=detail,
        taylor=taylor_text(taylor, failure.kink_near),
    )


def _state_cause(alone: Alone | None) -> str:
    """State, unless the op alone is wrong at inputs drawn from its domain: then the
    composition only reached such an input (a marginal error grows through f(f(x)))."""
    if alone is None:
        return STATE_CAUSE
    ex, at = alone
    own = _at_own_output(ex, at)
    if own is not None and any(
        _wrong_entries(own, i, ex.rtol, ex.atol)[0] for i in range(len(ex.inputs))
    ):
        return (
            "not state: the op alone is wrong at its own output f(x), the input f(f(x)) gives "
            "it (one example) - fix the op's gradient there"
        )
    rng = np.random.default_rng(ex.seed + 3)
    spec = ex.target.spec
    jacs = [
        jac
        for jac in (
            at([_uniform(rng, spec.domain(i), x.shape, ex.dtype) for i, x in enumerate(ex.inputs)])
            for _ in range(6)
        )
        if jac is not None
    ]
    if not jacs:
        return STATE_CAUSE
    wrong = sum(
        any(_wrong_entries(jac, i, ex.rtol, ex.atol)[0] for i in range(len(ex.inputs)))
        for jac in jacs
    )
    drawn = f"{len(jacs)} inputs drawn uniformly from its domain"
    if wrong:
        return (
            f"not state: the op alone is wrong at {wrong} of {drawn} - the composition only "
            "reached an input where its gradient is wrong; fix the op's gradient first"
        )
    return f"{STATE_CAUSE} (the op alone is right at all {drawn})"


def _at_own_output(
    ex: Example, at: Callable[[Sequence[Array]], Jacobians | None]
) -> Jacobians | None:
    """The op's Jacobians at its own output (what ``f(f(x))`` feeds it), if that is an input."""
    if len(ex.inputs) != 1:
        return None
    try:
        outputs = ex.target.evaluate(ex.inputs, ex.params)
    except Exception:  # noqa: BLE001 - only evidence: the op's own check reports its errors
        return None
    if len(outputs) != 1 or outputs[0].shape != ex.inputs[0].shape:
        return None
    return at([outputs[0].astype(ex.dtype)])


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


def _second_opinions(
    failure: Failure, rerun: Rerun, causes: list[str]
) -> tuple[list[str], list[str]]:
    """Rerun the failing example in float64 and at the order below, to say where the fault is."""
    ex, order = failure.example, failure.order
    notes: list[str] = []
    if ex.dtype != "float64" and "float64" in ex.target.spec.dtypes:  # only a declared dtype
        if rerun("float64", order):
            causes.insert(
                0,
                f"{ex.dtype} only: this example passes in float64 (one example, rerun) - a "
                "dtype-dependent branch, or lost precision (then raise the op's "
                "Tolerance.rtol32/atol32)",
            )
        else:
            notes.append("the same example fails in float64 too")
    if order > 1:
        if rerun(ex.dtype, order - 1):
            causes.insert(
                0,
                f"order {order} only: order {order - 1} passes on this example, so the backward "
                "is not differentiable correctly - it computes with .data or arrays, or a helper "
                "Function's own backward is wrong",
            )
        else:
            notes.append(f"order {order - 1} fails on this example too: fix that first")
    return causes, notes


def _flat(entry: Entry, jac: Jacobians, failure: Failure) -> tuple[int, int, int, int]:
    """``(output, row, input, column)`` of ``entry`` in the Jacobian blocks."""
    k, i = entry.output or 0, entry.input or 0
    m = _ravel(entry.output_index, jac.output_shapes[k])
    j = _ravel(entry.input_index, failure.example.input_shapes[i])
    return k, m, i, j


def _ravel(index: tuple[int, ...] | None, shape: tuple[int, ...]) -> int:
    return int(np.ravel_multi_index(index, shape)) if shape and index else 0


def _kink_detail(failure: Failure, jac: Jacobians, worst: Entry) -> str:
    if not worst.kink:
        return ""
    k, m, i, j = _flat(worst, jac, failure)
    spec, inputs = failure.example.target.spec, failure.example.inputs
    d = jac.numerical[k][i]
    on_tie = spec.ties != "none" and bool(tied(inputs)[i][j])
    which = f"ties={spec.ties!r}" if on_tie else f"kink_rule={spec.domain(i).kink_rule!r}"
    return (
        f"one-sided derivatives left {float(d.left[m, j]):.6g}, right "
        f"{float(d.right[m, j]):.6g}; the op declares {which}, so the numerical line shows the "
        "value that convention allows"
    )


def _jacobian_causes(
    failure: Failure,
    jac: Jacobians,
    worst: Entry,
    worst_ratio: float,
    taylor: TaylorTest | None,
    others: list[Jacobians],
) -> list[str]:
    if worst.kink:
        return [
            "kink: the worst entry sits on a non-differentiable point and its analytic value "
            "breaks the convention the op declares (Domain.kink_rule / OpDef.ties); fix the "
            "backward there or declare the convention it follows"
        ]
    i = worst.input or 0
    ex = failure.example
    a = np.concatenate([blocks[i] for blocks in jac.analytic])
    factor = _factor_causes(i, [jac, *others], ex.rtol, ex.atol)
    causes = factor or _transposed_causes(failure, jac, i, a)
    wrong, total = _wrong_entries(jac, i, ex.rtol, ex.atol)
    if not causes and taylor is not None and taylor.order == 2:
        if worst_ratio < _PRECISION:
            causes.append(
                f"precision?: the Taylor test finds the gradient right along a random direction "
                f"and the error is {worst_ratio:.2g}x the allowed one ({wrong} of {total} "
                "entries): if the op is ill-conditioned here, narrow its Domain or raise its "
                "Tolerance"
            )
        else:
            causes.append(
                f"the numerical derivative?: the error is {worst_ratio:.2g}x the allowed one "
                f"({wrong} of {total} entries), yet the Taylor test finds the gradient right "
                "along a random direction: is the forward smooth here (an undeclared kink), "
                "or does it lose digits (cancellation)?"
            )
    if not causes:
        confirmed = (
            " (the Taylor test confirms it without a step)"
            if taylor is not None and taylor.order == 1
            else ""
        )
        causes.append(
            f"wrong formula: the gradient of input {i} differs from the numerical derivative "
            f"on {wrong} of {total} entries of this example{confirmed}; compare backward with "
            "the derivative of forward"
        )
    where = "" if factor else _where_wrong(i, others, ex.rtol, ex.atol)  # a factor says it
    return causes + ([where] if where else [])


def _column(jac: Jacobians, i: int) -> tuple[F64, F64, F64]:
    """Input ``i``'s Jacobian entries over all outputs: analytic, numerical, its rounding."""
    a = np.concatenate([blocks[i].reshape(-1) for blocks in jac.analytic])
    n = np.concatenate([blocks[i].central.reshape(-1) for blocks in jac.numerical])
    r = np.concatenate([blocks[i].rounding.reshape(-1) for blocks in jac.numerical])
    return a, n, r


def _wrong_entries(jac: Jacobians, i: int, rtol: float, atol: float) -> tuple[int, int]:
    """How many of input ``i``'s Jacobian entries are beyond the allowed error, of how many."""
    a, n, r = _column(jac, i)
    with np.errstate(invalid="ignore"):
        wrong = ~(np.abs(a - n) <= atol + rtol * np.abs(n) + r)
    return int(np.count_nonzero(wrong)), int(a.size)


def _factor_causes(i: int, jacs: Sequence[Jacobians], rtol: float, atol: float) -> list[str]:
    """A sign flip, a dropped gradient or a constant factor: analytic = c x numerical on at
    least ``_MANY`` entries, pooled over this example's Jacobian and those at other inputs."""
    pairs = [_column(jac, i)[:2] for jac in jacs]
    keep = [np.abs(n) > 10 * (atol + rtol * np.abs(n)) for _, n in pairs]
    a = np.concatenate([p[0][k] for p, k in zip(pairs, keep, strict=True)])
    n = np.concatenate([p[1][k] for p, k in zip(pairs, keep, strict=True)])
    if a.size < _MANY:
        return []
    ratios = a / n
    factor = float(np.median(ratios))
    if not np.allclose(ratios, factor, rtol=1e-3, atol=0) or abs(factor - 1) <= 10 * rtol:
        return []
    examples = sum(bool(k.any()) for k in keep)
    basis = (
        f"on all {a.size} entries where the numerical one is not ~0, at {examples} "
        f"input{'s' if examples > 1 else ''}"
        + (f" (this one and {examples - 1} drawn from its domain)" if examples > 1 else "")
    )
    if abs(factor + 1) < 1e-3:
        return [f"sign flipped: the gradient of input {i} is -1 x the numerical one {basis}"]
    if abs(factor) < 1e-12:
        return [
            f"dropped: the gradient of input {i} is zero {basis} (is the input detached "
            "through .data, or its gradient not returned?)"
        ]
    off = " (a factor off by 2)" if min(abs(factor - 2), abs(factor - 0.5)) < 1e-3 else ""
    return [
        f"constant factor: the gradient of input {i} is {factor:.6g} x the numerical one "
        f"{basis}{off}"
    ]


def _where_wrong(i: int, others: list[Jacobians], rtol: float, atol: float) -> str:
    """Where else input ``i``'s gradient is wrong: at how many of the other inputs drawn."""
    if not others:
        return ""
    m = len(others)
    wrong = sum(_wrong_entries(jac, i, rtol, atol)[0] > 0 for jac in others)
    drawn = f"{m} other input{'s' if m > 1 else ''} drawn uniformly from the domain"
    if wrong == m:
        return f"everywhere: the gradient of input {i} is wrong at all {drawn} too"
    if wrong == 0:
        return (
            f"only here: the gradient of input {i} is right at all {drawn}: the fault is in a "
            "branch this example takes (a region, a sign, a special value)"
        )
    return (
        f"in part of the domain: the gradient of input {i} is wrong at {wrong} of {drawn} "
        "(right at the rest): look for a branch or a region in backward"
    )


def _others(ex: Example, jac: Jacobians, worst: Entry, evidence: Evidence) -> list[Jacobians]:
    """The check's Jacobians at a few inputs drawn uniformly from the domain: enough examples
    to give ``_MANY`` entries of the worst input, at least 2, at most 8."""
    if evidence.elsewhere is None:
        return []
    entries = max(1, _column(jac, worst.input or 0)[0].size)
    count = min(8, max(2, math.ceil(_MANY / entries)))
    rng = np.random.default_rng(ex.seed + 1)
    spec = ex.target.spec
    found = []
    for _ in range(count):
        inputs = [_uniform(rng, spec.domain(i), x.shape, ex.dtype) for i, x in enumerate(ex.inputs)]
        other = evidence.elsewhere(inputs)
        if other is not None:
            found.append(other)
    return found


def _uniform(rng: np.random.Generator, domain: Domain, shape: tuple[int, ...], dtype: str) -> Array:
    """Values spread uniformly over ``domain``'s allowed intervals, in ``dtype``."""
    pieces = domain.intervals_in(dtype)
    widths = np.array([high - low for low, high in pieces], dtype=np.float64)
    p = widths / widths.sum() if widths.sum() > 0 else None
    which = rng.choice(len(pieces), size=shape, p=p)
    lows = np.array([low for low, _ in pieces])[which]
    highs = np.array([high for _, high in pieces])[which]
    values: Array = (lows + rng.uniform(size=shape) * (highs - lows)).astype(dtype)
    return values


def _transposed_causes(failure: Failure, jac: Jacobians, i: int, a: F64) -> list[str]:
    """The analytic gradient equals the numerical one with its last two axes swapped."""
    shape = failure.example.input_shapes[i]
    if len(shape) < 2 or shape[-1] != shape[-2] or shape[-1] <= 1:
        return []
    axes = list(range(len(shape)))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    swapped = np.concatenate(
        [
            blocks[i]
            .central.reshape(-1, *shape)
            .transpose(0, *(x + 1 for x in axes))
            .reshape(-1, int(np.prod(shape)))
            for blocks in jac.numerical
        ]
    )
    ex = failure.example
    if not np.allclose(a, swapped, rtol=10 * ex.rtol, atol=10 * ex.atol):
        return []
    return [
        f"transposed: the gradient of input {i} matches the numerical one with its last "
        f"two axes swapped, on all {a.size} entries of this example (a missing or extra "
        "transpose in backward)"
    ]
