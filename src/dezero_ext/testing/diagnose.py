"""Diagnosis of a failed check, run only on a failure: the likely cause (sign, constant factor,
transposition, a dropped input, a kink convention, precision, an exception), the kink analysis
of the worst entry, and second opinions (the same example in float64, at the order below)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from dezero_ext.testing.errors import Evidence
from dezero_ext.testing.jacobian import Jacobians, tied
from dezero_ext.testing.numerical import F64
from dezero_ext.testing.report import Entry, Failure

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

Rerun = Callable[[str, int], bool]
"""``(dtype, order) -> passed``: the failing example's check run again in ``dtype`` at
``order`` (the pass/fail path only)."""


def explain(failure: Failure, evidence: Evidence, rerun: Rerun | None) -> Failure:
    """``failure`` with its likely causes, kink analysis and second opinions added."""
    causes = list(failure.causes)
    detail = failure.kink_detail
    if evidence.exception is not None:
        causes += exception_causes(evidence.exception)
    jac, worst = evidence.jacobians, failure.worst
    if jac is not None and worst is not None:
        causes += _jacobian_causes(failure, jac, worst, evidence.worst_ratio)
        detail = detail or _kink_detail(failure, jac, worst)
    notes: list[str] = []
    if failure.example.composed and failure.kind in ("mismatch", "kink"):
        causes = [STATE_CAUSE, *causes]
    elif rerun is not None and failure.kind in ("mismatch", "kink"):
        causes, notes = _second_opinions(failure, rerun, causes)
    return replace(
        failure, causes=tuple(causes), notes=failure.notes + tuple(notes), kink_detail=detail
    )


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
                f"{ex.dtype} only: the same example passes in float64 - a dtype-dependent "
                "branch, or lost precision (then raise the op's Tolerance.rtol32/atol32)",
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
    failure: Failure, jac: Jacobians, worst: Entry, worst_ratio: float
) -> list[str]:
    if worst.kink:
        return [
            "kink: this entry sits on a non-differentiable point and the analytic value breaks "
            "the convention the op declares (Domain.kink_rule / OpDef.ties); fix the backward "
            "there or declare the convention it follows"
        ]
    i = worst.input or 0
    a = np.concatenate([blocks[i] for blocks in jac.analytic])
    n = np.concatenate([blocks[i].central for blocks in jac.numerical])
    ex = failure.example
    causes = _factor_causes(i, a, n, ex.rtol, ex.atol) or _transposed_causes(failure, jac, i, a)
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
    return causes


def _factor_causes(i: int, a: F64, n: F64, rtol: float, atol: float) -> list[str]:
    """A sign flip, a dropped gradient or a constant factor: analytic = c x numerical."""
    significant = np.abs(n) > 10 * (atol + rtol * np.abs(n))
    if not significant.any():
        return []
    ratios = a[significant] / n[significant]
    factor = float(np.median(ratios))
    if not np.allclose(ratios, factor, rtol=1e-3, atol=0) or abs(factor - 1) <= 10 * rtol:
        return []
    if abs(factor + 1) < 1e-3:
        return [f"sign flipped: the gradient of input {i} is -1 x the numerical one"]
    if abs(factor) < 1e-12:
        return [
            f"dropped: the gradient of input {i} is zero where it should not be "
            "(is the input detached through .data, or its gradient not returned?)"
        ]
    off = " (a factor off by 2)" if min(abs(factor - 2), abs(factor - 0.5)) < 1e-3 else ""
    return [
        f"constant factor: the gradient of input {i} is {factor:.6g} x the "
        f"numerical one everywhere{off}"
    ]


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
        "two axes swapped (a missing or extra transpose in backward)"
    ]
