"""``check_gradients``: a target's derivatives against numerical differentiation, order by order.

For derivative order ``k`` the checked function is ``G_{k-1}``: ``G_0`` is the target itself
and ``G_j(x)`` is the gradient of ``<c_j, G_{j-1}(x)>`` for a fixed random cotangent ``c_j``,
computed by the target's own framework (``Target.linearize``). Checking ``G_{k-1}``'s pullback
numerically checks the k-th derivative — the order-k check is the order-1 check applied to
``G_{k-1}`` — and each level is one numerical differentiation of analytic values, so errors
do not compound across orders.

Every example gets a cheap random projection ``vᵀJu`` (one pullback, four evaluations). When
that disagrees, when a kink shows along the direction, or when asked, the full Jacobian
decides, entry by entry. A failure is then explained by ``diagnose`` (likely cause, second
opinions), a separate layer that never changes the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from dezero_ext.core.variable import Array
from dezero_ext.opdef import OpDef, Tolerance
from dezero_ext.testing.compose import compositions
from dezero_ext.testing.constants import with_constants
from dezero_ext.testing.diagnose import DTYPE_CAUSE, SUM_TO_CAUSE, Rerun, explain
from dezero_ext.testing.errors import CheckFailedError, Evidence, describe
from dezero_ext.testing.example import Example, random_direction, tolerance_for
from dezero_ext.testing.extra_checks import check_tie_total
from dezero_ext.testing.forward import check_reference
from dezero_ext.testing.jacobian import Jacobians, Verdict, compare, jacobians
from dezero_ext.testing.numerical import F64, ArrayFunction, directional_derivative
from dezero_ext.testing.op_targets import VariableFunction, as_target
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.protocol import Pullback, Target, TargetFaultError
from dezero_ext.testing.report import Entry, Failure, FailureKind, GradientCheckError
from dezero_ext.testing.stacked import StackedFunction
from dezero_ext.testing.timeout import in_phase

__all__ = [
    "CheckResult",
    "OrderResult",
    "VariantResult",
    "check_gradients",
    "check_order",
    "check_projection",
    "make_example",
    "tolerance_for",
]


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
class VariantResult:
    """A variant of the example that passed too (the op without its optional inputs): its
    name and one ``OrderResult`` per checked order."""

    variant: str
    orders: tuple[OrderResult, ...]
    composed: bool = False
    """A composition of the op (its kink hits matched any convention, not the op's)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A passed ``check_gradients``: one ``OrderResult`` per checked order, and the variants
    of the example checked besides it."""

    op: str
    orders: tuple[OrderResult, ...]
    variants: tuple[VariantResult, ...] = ()

    def _all(self) -> list[OrderResult]:
        return [*self.orders, *(r for v in self.variants for r in v.orders)]

    @property
    def kink_hits(self) -> int:
        """How many Jacobian entries sat on a kink and matched the op's convention."""
        own = [*self.orders, *(r for v in self.variants if not v.composed for r in v.orders)]
        return sum(r.kink_hits for r in own)

    @property
    def rel_error(self) -> float:
        return max((r.rel_error for r in self._all()), default=0.0)


@dataclass(frozen=True, slots=True)
class _Projection:
    analytic: float
    numerical: float
    allowed: float
    kink: bool

    @property
    def passed(self) -> bool:
        return abs(self.analytic - self.numerical) <= self.allowed and not self.kink


def check_order(ex: Example, order: int, full: bool) -> OrderResult:
    """The pass/fail check of derivative ``order`` on ``ex``; raises ``CheckFailedError``."""
    __tracebackhide__ = True
    with in_phase("forward", order, ex):  # what a time limit reports, if it runs out here
        return _check_order(ex, order, full)


def check_projection(ex: Example, order: int) -> OrderResult:
    """Only the random projection ``vᵀJu`` of derivative ``order`` on ``ex`` (and the forward
    against a declared reference at order 1): a few forward and backward passes, never the
    Jacobian, for inputs too large for it (``--stress``). Raises ``CheckFailedError`` when the
    projection disagrees; a kink along the direction passes (nothing to compare there)."""
    __tracebackhide__ = True
    with in_phase("forward", order, ex):
        projection, _, outputs, _, _ = _projected(ex, order)
    if abs(projection.analytic - projection.numerical) > projection.allowed and not projection.kink:
        message = (
            f"the projection vᵀJu (random u, v over {sum(x.size for x in ex.inputs)} input "
            "elements) differs from the central difference of <v, f(x + t u)>"
        )
        shapes = tuple(y.shape for y in outputs)
        a, n, allowed = projection.analytic, projection.numerical, projection.allowed
        failure = Failure("mismatch", order, ex, message, shapes, projection=(a, n, allowed))
        raise CheckFailedError(failure)
    return _result(ex, order, projection, None)


def _projected(
    ex: Example, order: int
) -> tuple[_Projection, Pullback, tuple[Array, ...], ArrayFunction, list[list[Array]]]:
    """The projection ``vᵀJu`` both ways, with what the full Jacobian would need (and the
    diagnosis: the cotangents)."""
    __tracebackhide__ = True
    rng = ex.rng()
    cotangents = _cotangents(ex, order, rng)
    outputs, pullback = _linearize(ex, order, cotangents)
    if order == 1:
        check_reference(ex, outputs)
    vs = [random_direction(rng, y.shape, ex.dtype) for y in outputs]
    with in_phase("backward"):
        grads = _pull(ex, order, pullback, vs, outputs)
    us = [random_direction(rng, x.shape, ex.dtype) for x in ex.inputs]
    reference = ex.reference_function(cotangents)
    projection = _project(ex, order, reference, us, vs, grads, cotangents)
    return projection, pullback, outputs, reference, cotangents


def _check_order(ex: Example, order: int, full: bool) -> OrderResult:
    __tracebackhide__ = True
    projection, pullback, outputs, reference, cotangents = _projected(ex, order)
    if projection.passed and not full:
        return _result(ex, order, projection, None)
    stacked = ex.stacked_function(cotangents)
    jac = _jacobians(ex, order, pullback, outputs, reference, stacked)
    verdict = compare(jac, ex.inputs, ex.target.spec, ex.rtol, ex.atol, order)
    if not verdict.passed:
        assert verdict.worst is not None
        failure = Failure(
            "kink" if verdict.worst.kink else "mismatch",
            order,
            ex,
            output_shapes=jac.output_shapes,
            worst=verdict.worst,
            kink_near=verdict.worst.kink or projection.kink,
            projection=(projection.analytic, projection.numerical, projection.allowed),
            per_input=verdict.per_input,
        )
        evidence = Evidence(jac, None, verdict.worst_ratio, reference, _elsewhere(ex, cotangents))
        raise CheckFailedError(failure, evidence)
    if verdict.kink_hits and ex.target.spec.ties != "none":
        check_tie_total(ex, order, jac, reference)
    return _result(ex, order, projection, verdict)


def _elsewhere(
    ex: Example, cotangents: list[list[Array]]
) -> Callable[[Sequence[Array]], Jacobians | None]:
    """The check's Jacobians (same order, cotangents, parameters) at other ``inputs``, for the
    diagnosis to test a cause on more than one example; None where the target fails to run."""

    def at(inputs: Sequence[Array]) -> Jacobians | None:
        other = replace(ex, inputs=tuple(inputs))
        try:
            outputs, pullback = other.target.linearize(other.inputs, other.params, cotangents)
            return jacobians(other, pullback, outputs, other.reference_function(cotangents))
        except Exception:  # noqa: BLE001 - only evidence: a target failing there gives none
            return None

    return at


def _jacobians(
    ex: Example,
    order: int,
    pullback: Pullback,
    outputs: Sequence[Array],
    reference: ArrayFunction,
    stacked: StackedFunction | None,
) -> Jacobians:
    __tracebackhide__ = True
    try:
        return jacobians(ex, pullback, outputs, reference, stacked)
    except TargetFaultError as fault:
        raise _fault(ex, order, fault) from fault


def _raised(ex: Example, order: int, stage: str, exc: Exception) -> CheckFailedError:
    message = f"{stage} raised {describe(exc)}"
    return CheckFailedError(Failure("error", order, ex, message))


def _fault(ex: Example, order: int, fault: TargetFaultError) -> CheckFailedError:
    try:
        shapes = tuple(y.shape for y in ex.target.evaluate(ex.inputs, ex.params))
    except Exception:  # noqa: BLE001 - the shapes only complete the report
        shapes = ()
    causes = (fault.cause,) if fault.cause else ()
    worst = Entry(input=fault.input)
    failure = Failure(fault.kind, order, ex, fault.message, shapes, worst, causes=causes)
    return CheckFailedError(failure)


def _cotangents(ex: Example, order: int, rng: np.random.Generator) -> list[list[Array]]:
    """``c_1, ..., c_{order-1}``: ``c_1`` of the target's outputs, the later ones of its inputs."""
    __tracebackhide__ = True
    if order == 1:
        return []
    try:
        outputs = ex.target.evaluate(ex.inputs, ex.params)
    except TargetFaultError as fault:
        raise _fault(ex, order, fault) from fault
    except Exception as exc:
        raise _raised(ex, order, f"backward (building order {order - 1})", exc) from exc
    cotangents = [[random_direction(rng, y.shape, ex.dtype) for y in outputs]]
    for _ in range(order - 2):
        cotangents.append([random_direction(rng, x.shape, ex.dtype) for x in ex.inputs])
    return [[c.astype(ex.dtype) for c in level] for level in cotangents]


def _linearize(
    ex: Example, order: int, cotangents: list[list[Array]]
) -> tuple[tuple[Array, ...], Pullback]:
    __tracebackhide__ = True
    try:
        return ex.target.linearize(ex.inputs, ex.params, cotangents)
    except TargetFaultError as fault:
        raise _fault(ex, order, fault) from fault
    except Exception as exc:
        stage = "forward" if order == 1 else f"backward (building order {order - 1})"
        raise _raised(ex, order, stage, exc) from exc


def _pull(
    ex: Example, order: int, pullback: Pullback, vs: Sequence[F64], outputs: Sequence[Array]
) -> list[F64]:
    """The analytic ``vᵀJ``, each gradient checked for its input's shape and dtype."""
    __tracebackhide__ = True
    shapes = tuple(y.shape for y in outputs)
    try:
        grads = pullback([v.astype(ex.dtype) for v in vs])
    except TargetFaultError as fault:
        raise _fault(ex, order, fault) from fault
    except Exception as exc:
        kind: FailureKind = "shape" if "shape" in str(exc) else "error"
        failure = Failure(kind, order, ex, f"backward raised {describe(exc)}", shapes)
        raise CheckFailedError(failure, Evidence(exception=exc)) from exc
    for i, (x, g) in enumerate(zip(ex.inputs, grads, strict=True)):
        if g.shape != x.shape:
            message = f"the gradient of input {i} has shape {g.shape}, the input {x.shape}"
            failure = Failure(
                "shape", order, ex, message, shapes, Entry(input=i), causes=(SUM_TO_CAUSE,)
            )
            raise CheckFailedError(failure)
        if g.dtype != x.dtype:
            message = f"the gradient of input {i} is {g.dtype}, the input {x.dtype}"
            cause = DTYPE_CAUSE.format(dtype=g.dtype)
            failure = Failure("dtype", order, ex, message, shapes, Entry(input=i), causes=(cause,))
            raise CheckFailedError(failure)
    return [np.asarray(g, dtype=np.float64) for g in grads]


def _project(
    ex: Example,
    order: int,
    reference: ArrayFunction,
    us: Sequence[F64],
    vs: Sequence[F64],
    grads: Sequence[F64],
    cotangents: list[list[Array]],
) -> _Projection:
    """``vᵀJu`` both ways. Each gradient element may be off by ``atol + rtol*|g|``;
    independent errors add in quadrature (tighter than their plain sum, which would let one
    element be off by n times its tolerance): a disagreement costs only the full Jacobian."""
    __tracebackhide__ = True
    x_ref = [np.asarray(x, dtype=ex.reference) for x in ex.inputs]
    allowed = math.sqrt(
        sum(
            float(np.sum((u * (ex.atol + ex.rtol * np.abs(g))) ** 2))
            for u, g in zip(us, grads, strict=True)
        )
    )
    try:
        along = directional_derivative(
            reference,
            x_ref,
            us,
            vs,
            dtype=ex.reference,
            rtol=0.0,
            atol=allowed / 4,
            stacked=ex.stacked_function(cotangents),
        )
    except TargetFaultError as fault:
        raise _fault(ex, order, fault) from fault
    except Exception as exc:
        raise _raised(ex, order, "the op", exc) from exc
    analytic = float(sum(np.sum(u * g) for u, g in zip(us, grads, strict=True)))
    # The reference cannot be more accurate than its own rounding: that much more is allowed.
    allowed += float(along.rounding)
    return _Projection(analytic, float(along.central), allowed, bool(along.kink))


def _result(ex: Example, order: int, p: _Projection, verdict: Verdict | None) -> OrderResult:
    if verdict is not None:
        full = (True, verdict.kink_hits, verdict.worst_ratio, verdict.rel_error)
        return OrderResult(order, ex.dtype, p.analytic, p.numerical, p.allowed, *full)
    error = abs(p.analytic - p.numerical)
    scale = max(abs(p.numerical), ex.atol * len(ex.inputs))
    ratio = error / p.allowed if p.allowed else 0.0
    return OrderResult(
        order, ex.dtype, p.analytic, p.numerical, p.allowed, False, 0, ratio, error / scale
    )


def make_example(
    target: Target,
    inputs: Sequence[Array],
    params: Mapping[str, object],
    *,
    seed: int = 0,
    tolerance: Tolerance | None = None,
    plugin: str | None = None,
) -> Example:
    """An ``Example`` of ``target`` in the first input's dtype (float64 when none)."""
    dtype = str(inputs[0].dtype) if inputs else "float64"
    arrays = tuple(np.asarray(x).astype(dtype) for x in inputs)
    return Example(target, arrays, params, dtype, seed, tolerance or target.spec.tolerance, plugin)


def _rerun(ex: Example) -> Rerun:
    def rerun(dtype: str, order: int) -> bool:
        try:
            check_order(ex.in_dtype(dtype), order, False)
        except CheckFailedError:
            return False
        return True

    return rerun


def check_gradients(
    target: Target | OpDef | VariableFunction,
    inputs: Sequence[npt.ArrayLike],
    params: Mapping[str, object] | None = None,
    options: CheckOptions | None = None,
    *,
    plugin: str | None = None,
) -> CheckResult:
    """Check the gradients of ``target`` at ``inputs`` against numerical differentiation.

    ``target`` is an ``OpDef`` (applied with ``params``), any function of Variables, or any
    ``Target``. The analytic side runs in the inputs' dtype; the numerical reference in
    float64. ``options`` (a ``CheckOptions``) says how: the derivative orders (default: 1 to
    the declared order; 4 for a plain function), ``full_jacobian``, ``tolerance``, ``seed``
    (of the random directions; ``None`` is 0) and ``compose``. ``plugin`` names the op's
    plugin in a report. ``options.backend`` runs the target on another array library
    (``dezero_ext.testing.backends``).

    A target that declares a ``reference`` has its outputs compared with it at order 1
    (``dezero_ext.testing.forward``): a ``forward`` failure when they differ.

    A target with optional trailing inputs (``OpDef.optional``), given all of them, is checked
    without them too, at every order. An op is also checked in small compositions at order 1
    (two instances in one graph, on its own output, one input given twice: see
    ``dezero_ext.testing.compose``) unless ``options.compose`` is False. A failure's report
    names the variant that failed.

    Returns a ``CheckResult``; raises ``GradientCheckError`` with a report on the first
    failing order.
    """
    __tracebackhide__ = True
    opts = options or CheckOptions()
    arrays = [np.asarray(x) for x in inputs]
    for x in arrays:
        if x.dtype.kind != "f":
            raise TypeError(f"check_gradients: inputs must be floating arrays, got {x.dtype}")
    checked = as_target(target, len(arrays))
    if opts.backend != "numpy":  # moved to another array library (testing.backends)
        from dezero_ext.testing.backends import on_backend

        checked = on_backend(checked, opts.backend)
    ex = make_example(
        checked, arrays, params or {}, seed=opts.seed or 0, tolerance=opts.tolerance, plugin=plugin
    )
    ex = replace(ex, full_jacobian=opts.full_jacobian)
    examples = [ex, *without_optional(ex), *with_constants(ex)]
    results: dict[str, list[OrderResult]] = {e.variant: [] for e in examples}
    wanted = opts.orders_for(checked.spec)
    for k in wanted:
        for e in examples:
            results[e.variant].append(_check(e, k, opts.full_jacobian))
    variants = [VariantResult(v, tuple(rs)) for v, rs in results.items() if v]
    if opts.compose and 1 in wanted:
        variants += [
            VariantResult(e.variant, (_check(e, 1, False, bare=ex),), True)
            for e in compositions(ex)
        ]
    return CheckResult(ex.name, tuple(results[""]), tuple(variants))


def without_optional(ex: Example) -> list[Example]:
    """The example without the target's optional trailing inputs, when it has them all."""
    spec = ex.target.spec
    if not spec.optional or len(ex.inputs) != spec.arity:
        return []
    kept = spec.arity - spec.optional
    dropped = ", ".join(str(i) for i in range(kept, spec.arity))
    label = f"without optional input{'s' if spec.optional > 1 else ''} {dropped}"
    return [replace(ex, inputs=ex.inputs[:kept], variant=label)]


def _check(ex: Example, order: int, full: bool, bare: Example | None = None) -> OrderResult:
    """``check_order``, with a failure explained by the diagnosis layer (``bare``: for a
    composition, the op's own example, which the diagnosis checks at other inputs)."""
    __tracebackhide__ = True
    try:
        return check_order(ex, order, full)
    except CheckFailedError as failed:
        alone = None
        if bare is not None:
            own = bare.in_dtype(ex.dtype)
            alone = (own, _elsewhere(own, []))
        explained = explain(failed.failure, failed.evidence, _rerun(ex), alone)
        raise GradientCheckError(explained) from None
