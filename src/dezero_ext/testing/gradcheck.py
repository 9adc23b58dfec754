"""``check_gradients``: an op's backward against numerical differentiation, order by order.

For derivative order ``k`` the checked function is ``G_{k-1}``: ``G_0`` is the op itself and
``G_j(x) = vjp(G_{j-1})(x, c_j)`` is the backward pass of the level below, recorded with
``create_graph=True``, for a fixed random cotangent ``c_j``. Checking ``G_{k-1}``'s own
backward numerically checks the k-th derivative, and each level is one numerical
differentiation of analytic values, so errors do not compound across orders.

Every example gets a cheap random projection ``vᵀJu`` (one backward pass, four evaluations).
When that disagrees, when a kink shows along the direction, or when asked, the full Jacobian
decides, entry by entry, and names the worst one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from dezero_ext.core.config import no_grad
from dezero_ext.core.variable import Array, Variable
from dezero_ext.opdef import OpDef, Tolerance
from dezero_ext.testing import diagnose
from dezero_ext.testing.extra_checks import check_raw_dtypes, check_tie_total
from dezero_ext.testing.numerical import F64, directional_derivative, numerical_jacobian
from dezero_ext.testing.report import FailureKind, GradientCheckError
from dezero_ext.testing.subject import (
    Example,
    Jacobians,
    ReferenceFunction,
    VariableFunction,
    describe,
    make_subject,
    random_direction,
    reference_function,
    variables,
)
from dezero_ext.testing.vjp import LevelFunction, backprop, lift

__all__ = [
    "CheckResult",
    "OrderResult",
    "VariableFunction",
    "backprop",
    "check_gradients",
    "tolerance_for",
]

# float16 is checked with JAX's tolerance for it at least.
_FLOOR16 = 1e-2


def tolerance_for(tolerance: Tolerance, dtype: str) -> tuple[float, float]:
    """``(rtol, atol)`` for a check in ``dtype``: the op's ``Tolerance``, with JAX's
    per-dtype floor for float16."""
    rtol, atol = tolerance.for_dtype(np.dtype(dtype))
    if np.dtype(dtype).itemsize <= 2:
        return max(rtol, _FLOOR16), max(atol, _FLOOR16)
    return rtol, atol


@dataclass(frozen=True, slots=True)
class OrderResult:
    """How one derivative order passed: the projection and, if it ran, the full Jacobian."""

    order: int
    dtype: str
    analytic: float
    numerical: float
    allowed: float
    full_jacobian: bool
    kink_hits: int
    worst_ratio: float
    """The largest error / allowed error seen (below 1 when passing)."""
    rel_error: float
    """The largest relative error seen, ``|analytic - numerical| / max(|numerical|, atol)``."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A passed ``check_gradients``: one ``OrderResult`` per checked order."""

    op: str
    orders: tuple[OrderResult, ...]

    @property
    def kink_hits(self) -> int:
        """How many Jacobian entries sat on a kink and matched the op's convention."""
        return sum(r.kink_hits for r in self.orders)

    @property
    def rel_error(self) -> float:
        return max((r.rel_error for r in self.orders), default=0.0)


def _check_order(ex: Example, order: int, full: bool) -> OrderResult:
    __tracebackhide__ = True
    subject = ex.subject
    n_inputs = len(ex.inputs)
    xs = variables(ex.inputs, ex.dtype)
    try:
        cotangents: list[list[F64]] = []
        if order > 1:
            # G_1 takes cotangents of the op's outputs; the levels above, of its inputs.
            with no_grad():
                op_outputs = subject.apply(*xs)
            cotangents.append([random_direction(ex.rng, y.shape, ex.dtype) for y in op_outputs])
        for _ in range(order - 2):
            cotangents.append([random_direction(ex.rng, x.shape, ex.dtype) for x in ex.inputs])
        level = lift(subject.apply, cotangents)[order - 1]
        ys = level(*xs)
    except Exception as exc:
        stage = "forward" if order == 1 else f"backward (building order {order - 1})"
        raise ex.failure(order, "error", message=f"{stage} raised {describe(exc)}") from exc
    out_shapes = tuple(y.shape for y in ys)
    vs = [random_direction(ex.rng, y.shape, ex.dtype) for y in ys]
    if order == 1:
        check_raw_dtypes(ex, ys, vs, out_shapes)
    try:
        grads = backprop(ys, vs, xs)
    except Exception as exc:
        kind: FailureKind = "shape" if "shape" in str(exc) else "error"
        raise ex.failure(
            order,
            kind,
            output_shapes=out_shapes,
            message=f"backward raised {describe(exc)}",
            causes=diagnose.exception_causes(exc),
        ) from exc
    for i, (x, g) in enumerate(zip(xs, grads, strict=True)):
        if g.shape != x.shape:
            raise ex.failure(
                order,
                "shape",
                output_shapes=out_shapes,
                input=i,
                message=f"the gradient of input {i} has shape {g.shape}, the input {x.shape}",
                causes=("shape/broadcast: sum a broadcast gradient back with sum_to",),
            )
        if g.dtype != x.dtype:
            raise ex.failure(
                order,
                "dtype",
                output_shapes=out_shapes,
                input=i,
                message=f"the gradient of input {i} is {g.dtype}, the input {x.dtype}",
                causes=(
                    f"dtype: backward promoted the gradient to {g.dtype}; compute it from the "
                    "Variables it receives (a Python number stays weak, np.float64(...) does not)",
                ),
            )
    analytic_grads = [np.asarray(g.data, dtype=np.float64) for g in grads]
    us = [random_direction(ex.rng, x.shape, ex.dtype) for x in ex.inputs]
    reference = reference_function(level, order, ex.reference)
    x_ref = [np.asarray(x, dtype=ex.reference) for x in ex.inputs]
    try:
        along = directional_derivative(reference, x_ref, us, vs, dtype=ex.reference)
    except Exception as exc:
        raise ex.failure(order, "error", message=f"the op raised {describe(exc)}") from exc
    analytic = float(sum(np.sum(u * g) for u, g in zip(us, analytic_grads, strict=True)))
    numeric = float(along.central)
    # Each gradient element may be off by atol + rtol*|g|; independent errors add in
    # quadrature. Tighter than their plain sum (which would let one element be off by up to
    # n times its tolerance): a disagreement here costs only the full Jacobian, which decides.
    allowed = math.sqrt(
        sum(
            float(np.sum((u * (ex.atol + ex.rtol * np.abs(g))) ** 2))
            for u, g in zip(us, analytic_grads, strict=True)
        )
    )
    error = abs(analytic - numeric)
    projection_ok = bool(error <= allowed and not along.kink)
    if projection_ok and not full:
        scale = max(abs(numeric), ex.atol * n_inputs)
        return OrderResult(
            order,
            ex.dtype,
            analytic,
            numeric,
            allowed,
            False,
            0,
            error / allowed if allowed else 0.0,
            error / scale,
        )
    jac = _jacobians(ex, level, xs, ys, x_ref, reference)
    verdict = diagnose.compare(jac, ex.inputs, subject.kink_rules, subject.ties, ex.rtol, ex.atol)
    if verdict.passed and verdict.kink_hits and subject.ties != "none":
        check_tie_total(ex, order, jac, x_ref, reference, out_shapes)
    if verdict.passed:
        return OrderResult(
            order,
            ex.dtype,
            analytic,
            numeric,
            allowed,
            True,
            verdict.kink_hits,
            verdict.worst_ratio,
            verdict.rel_error,
        )
    worst = verdict.worst
    assert worst is not None
    raise ex.failure(
        order,
        "kink" if worst.kink else "mismatch",
        output_shapes=out_shapes,
        output=worst.output,
        output_index=worst.output_index,
        input=worst.input,
        input_index=worst.input_index,
        analytic=worst.analytic,
        numerical=worst.numerical,
        error=worst.error,
        allowed=worst.allowed,
        step=worst.step,
        kink_near=worst.kink or bool(along.kink),
        kink_detail=worst.kink_detail,
        per_input=verdict.per_input,
        causes=verdict.causes,
        projection=(analytic, numeric, allowed),
    )


def _jacobians(
    ex: Example,
    level: LevelFunction,
    xs: list[Variable],
    ys: tuple[Variable, ...],
    x_ref: list[Array],
    reference: ReferenceFunction,
) -> Jacobians:
    analytic: list[list[F64]] = []
    for k, y in enumerate(ys):
        rows: list[list[F64]] = [[] for _ in xs]
        for m in range(y.size):
            vs = [np.zeros(other.shape, dtype=ex.dtype) for other in ys]
            vs[k].reshape(-1)[m] = 1
            for i, g in enumerate(backprop(ys, vs, xs)):
                rows[i].append(np.asarray(g.data, dtype=np.float64).reshape(-1))
        analytic.append(
            [np.stack(r) if r else np.zeros((0, x.size)) for r, x in zip(rows, xs, strict=True)]
        )
    numerical = numerical_jacobian(reference, x_ref, dtype=ex.reference)
    return Jacobians(analytic, numerical, tuple(y.shape for y in ys))


def check_gradients(
    target: OpDef | VariableFunction,
    inputs: Sequence[npt.ArrayLike],
    params: Mapping[str, object] | None = None,
    *,
    order: int | None = None,
    orders: Iterable[int] | None = None,
    tolerance: Tolerance | None = None,
    full_jacobian: bool = False,
    seed: int = 0,
    plugin: str | None = None,
) -> CheckResult:
    """Check the gradients of ``target`` at ``inputs`` against numerical differentiation.

    ``target`` is an ``OpDef`` (applied with ``params``) or any function of Variables. The
    analytic side runs in the inputs' dtype; the numerical reference in float64. ``order``
    checks derivative orders 1 to ``order`` (default: the op's declared order, 1 for a plain
    function); ``orders`` names them exactly. ``seed`` fixes the random directions.

    Returns a ``CheckResult``; raises ``GradientCheckError`` with a report on the first
    failing order.
    """
    __tracebackhide__ = True
    arrays = tuple(np.asarray(x) for x in inputs)
    for x in arrays:
        if x.dtype.kind != "f":
            raise TypeError(f"check_gradients: inputs must be floating arrays, got {x.dtype}")
    subject = make_subject(target, params or {}, len(arrays), plugin, tolerance)
    wanted = (
        sorted(set(orders))
        if orders is not None
        else list(range(1, (order if order is not None else subject.max_order) + 1))
    )
    dtype = str(arrays[0].dtype) if arrays else "float64"
    arrays = tuple(x.astype(dtype) for x in arrays)
    reference = "float64" if "float64" in subject.dtypes else dtype
    rtol, atol = tolerance_for(subject.tolerance, dtype)
    results: list[OrderResult] = []
    for k in wanted:
        ex = Example(subject, arrays, params or {}, dtype, reference, seed, rtol, atol)
        try:
            results.append(_check_order(ex, k, full_jacobian))
        except GradientCheckError as exc:
            raise _with_second_opinions(
                exc, target, arrays, params, k, tolerance, seed, plugin
            ) from None
    return CheckResult(subject.name, tuple(results))


def _with_second_opinions(
    exc: GradientCheckError,
    target: OpDef | VariableFunction,
    arrays: tuple[Array, ...],
    params: Mapping[str, object] | None,
    order: int,
    tolerance: Tolerance | None,
    seed: int,
    plugin: str | None,
) -> GradientCheckError:
    """Rerun the failing example in float64 and at the order below, to say where the fault is."""
    failure = exc.failure
    if failure.kind in ("error", "shape", "dtype"):  # the report already names the fault
        return exc
    notes: list[str] = []
    causes = list(failure.causes)
    if failure.dtype != "float64":
        try:
            check_gradients(
                target,
                [x.astype(np.float64) for x in arrays],
                params,
                orders=[order],
                tolerance=tolerance,
                seed=seed,
                plugin=plugin,
            )
        except GradientCheckError:
            notes.append("the same example fails in float64 too")
        else:
            causes.insert(
                0,
                f"{failure.dtype} only: the same example passes in float64 - a dtype-dependent "
                "branch, or lost precision (then raise the op's Tolerance.rtol32/atol32)",
            )
    if order > 1:
        try:
            check_gradients(
                target,
                arrays,
                params,
                orders=[order - 1],
                tolerance=tolerance,
                seed=seed,
                plugin=plugin,
            )
        except GradientCheckError:
            notes.append(f"order {order - 1} fails on this example too: fix that first")
        else:
            causes.insert(
                0,
                f"order {order} only: order {order - 1} passes on this example, so the backward "
                "is not differentiable correctly - it computes with .data or arrays, or a helper "
                "Function's own backward is wrong",
            )
    if not notes and causes == list(failure.causes):
        return exc
    return GradientCheckError(
        replace(failure, causes=tuple(causes), notes=failure.notes + tuple(notes))
    )
