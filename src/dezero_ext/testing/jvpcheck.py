"""The check of an op's forward-mode rule (``Function.jvp``, ``jvp_array``) on one example.

With random tangents ``v`` (one per input) and cotangents ``u`` (one per output):

1. **the fast path**: ``jvp_array`` computes what ``jvp`` computes (to rounding);
2. **the transpose identity**, with no step size at all: ``⟨u, J v⟩`` from the op's JVP
   equals ``⟨Jᵀu, v⟩`` from its own VJP (``backward``), up to rounding;
3. **the directional derivative**: both against ``d/dt ⟨u, f(x + t v)⟩`` by central
   differences (``numerical.directional_derivative``, on the forward in float64). When the
   identity fails, this numerical projection names the side that is wrong: the JVP, the
   VJP, or both. When the identity holds but both sides miss the projection, both rules are
   wrong the same way.

``runner.py`` runs it per drawn example (Hypothesis shrinks a failure) for every op with a
native rule, after the gradient checks: a failure is a ``JvpCheckError`` (a ``ClaimError``:
the op's check is a FAIL with this report). Another framework's target with a forward-mode
rule (``ForwardModeTarget``: a ``torch.autograd.Function`` with ``jvp``, a
``jax.custom_jvp`` function) gets checks 2 and 3 the same way (``check_target_jvp``), its
JVP by the framework's forward mode and its VJP by the framework's reverse mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from dezero_ext.core.config import no_grad
from dezero_ext.core.engine import gradients
from dezero_ext.core.forward import dual_pass
from dezero_ext.core.variable import Array, Variable
from dezero_ext.opdef import OpDef, Tolerance
from dezero_ext.testing.claims import ClaimError
from dezero_ext.testing.numerical import ArrayFunction, directional_derivative
from dezero_ext.testing.op_targets import _fast_path_difference
from dezero_ext.testing.protocol import Target

__all__ = ["ForwardModeTarget", "JvpCheckError", "RuleNames", "check_jvp", "check_target_jvp"]

Side = Literal["jvp", "vjp", "both", "unclear"]

_IDENTITY_RTOL = {"float64": 1e-10, "float32": 1e-4, "float16": 3e-2}
"""The rounding ⟨u, Jv⟩ and ⟨Jᵀu, v⟩ may differ by, relative to the sums of |terms|."""


class JvpCheckError(ClaimError):
    """An op's forward-mode rule disagrees with its VJP or with the directional derivative;
    ``side`` names the rule that is wrong (``"unclear"`` when the evidence does not tell)."""

    def __init__(self, message: str, side: Side) -> None:
        super().__init__(message)
        self.side = side


@dataclass(frozen=True, slots=True)
class RuleNames:
    """How a report names the two rules the transpose identity ties together."""

    jvp: str
    """The forward-mode rule: ``Cube.jvp``, ``the custom_jvp rule of cube``."""
    vjp: str
    """The reverse-mode rule: ``Cube.backward``."""
    note: str = ""
    """A line on how the framework relates the two (JAX transposes the JVP rule)."""


@runtime_checkable
class ForwardModeTarget(Target, Protocol):
    """A checker ``Target`` whose framework has forward mode: ``forward_rule`` names its rule
    (None when it has none to prove), ``tangents`` computes ``J v`` by forward mode."""

    @property
    def forward_rule(self) -> RuleNames | None: ...

    def tangents(
        self, inputs: Sequence[Array], params: Mapping[str, object], tangents: Sequence[Array]
    ) -> tuple[Array, ...]:
        """``J v``, one array per output, by the framework's forward mode, in the inputs'
        dtype."""
        ...


@dataclass(frozen=True, slots=True)
class _Sides:
    """What the transpose identity compares, at fixed inputs and tangents ``v``: ``J v`` by the
    forward-mode rule, ``u -> Jᵀ u`` by the reverse-mode rule, the forward in float64 for the
    numerical judge."""

    tangent: Sequence[Array]
    vjp: Callable[[Sequence[Array]], list[Array]]
    reference: ArrayFunction
    tolerance: Tolerance
    names: RuleNames
    head: str


def check_jvp(
    opdef: OpDef, inputs: Sequence[Array], params: Mapping[str, object], seed: int
) -> None:
    """Check ``opdef``'s JVP rule at ``inputs`` (with ``params``) in the inputs' dtype, with
    tangents and cotangents drawn from ``seed``; raise ``JvpCheckError`` naming the side."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    arrays = [np.array(x, copy=True) for x in inputs]
    vs = [_direction(rng, x) for x in arrays]
    tangent = _jvp(opdef, arrays, params, vs, variables=False)
    slow = _jvp(opdef, arrays, params, vs, variables=True)
    head = _head(opdef.name, arrays, params, seed)
    for k, (fast_k, slow_k) in enumerate(zip(tangent, slow, strict=True)):
        problem = _fast_path_difference(slow_k, fast_k)
        if problem:
            raise JvpCheckError(
                head + f"\n  jvp_array (the fast path) disagrees with jvp for output {k}: "
                f"{problem}\n  cause: jvp_array must compute what jvp computes, on arrays",
                "jvp",
            )
    name = opdef.function.__name__
    sides = _Sides(
        tangent,
        lambda us: _vjp(opdef, arrays, params, us),
        _reference(opdef, params),
        opdef.tolerance,
        RuleNames(f"{name}.jvp", f"{name}.backward"),
        head,
    )
    us = _check_transpose(sides, arrays, vs, rng)
    if us is not None and opdef.order >= 2:
        _check_differentiable(opdef, arrays, params, (vs, us), seed)


def check_target_jvp(
    target: ForwardModeTarget, inputs: Sequence[Array], params: Mapping[str, object], seed: int
) -> None:
    """Check the forward-mode rule of ``target`` (another framework's function) at ``inputs``
    against its own VJP (the transpose identity) and central differences, as ``check_jvp``
    checks an op's at first order; raise ``JvpCheckError`` naming the side."""
    __tracebackhide__ = True
    names = target.forward_rule
    if names is None:
        return
    rng = np.random.default_rng(seed)
    arrays = [np.array(x, copy=True) for x in inputs]
    vs = [_direction(rng, x) for x in arrays]
    tangent = [np.asarray(t) for t in target.tangents(arrays, params, vs)]

    def vjp(us: Sequence[Array]) -> list[Array]:
        return [np.asarray(g) for g in target.linearize(arrays, params)[1](us)]

    def reference(*xs: Array) -> tuple[Array, ...]:
        wide = [np.asarray(x, dtype=np.float64) for x in xs]
        return tuple(np.asarray(y, dtype=np.float64) for y in target.evaluate(wide, params))

    head = _head(target.spec.name, arrays, params, seed)
    sides = _Sides(tangent, vjp, reference, target.spec.tolerance, names, head)
    _check_transpose(sides, arrays, vs, rng)


def _check_transpose(
    sides: _Sides, arrays: Sequence[Array], vs: Sequence[Array], rng: np.random.Generator
) -> list[Array] | None:
    """The transpose identity and the directional derivative; the cotangents ``u`` drawn
    when both hold (None: a kink, nothing more to check), else ``JvpCheckError``."""
    tangent = sides.tangent
    us = [_direction(rng, t) for t in tangent]
    pulled = sides.vjp(us)
    jvp_side = float(sum(np.sum(u * t) for u, t in zip(us, tangent, strict=True)))
    vjp_side = float(sum(np.sum(g * v) for g, v in zip(pulled, vs, strict=True)))
    magnitude = float(
        sum(np.sum(np.abs(u * t)) for u, t in zip(us, tangent, strict=True))
        + sum(np.sum(np.abs(g * v)) for g, v in zip(pulled, vs, strict=True))
    )
    dtype = str(arrays[0].dtype) if arrays else "float64"
    allowed = _IDENTITY_RTOL.get(dtype, 1e-4) * magnitude + 1e-300
    identity_holds = abs(jvp_side - vjp_side) <= allowed
    with np.errstate(all="ignore"):  # steps may leave the domain: the estimate says so
        numeric = directional_derivative(sides.reference, arrays, vs, us, dtype=dtype)
    num = float(numeric.central)
    if bool(np.any(numeric.kink)) or not np.isfinite(num):
        if identity_holds:
            return None
        num_ok: tuple[bool, bool] | None = None
    else:
        rtol, atol = sides.tolerance.for_dtype(arrays[0].dtype.type)
        slack = float(numeric.error()) + atol + rtol * abs(num)
        num_ok = (abs(jvp_side - num) <= slack, abs(vjp_side - num) <= slack)
        if identity_holds and num_ok[0]:
            return us
    raise _failure(sides, (jvp_side, vjp_side, num), identity_holds, num_ok)


def _check_differentiable(
    opdef: OpDef,
    arrays: Sequence[Array],
    params: Mapping[str, object],
    directions: tuple[Sequence[Array], Sequence[Array]],
    seed: int,
) -> None:
    """Orders 2 to the declared one: ``jvp`` (on Variables) is differentiable, and its
    derivatives are right. With ``φ_0(x) = ⟨u, J(x) v⟩`` through the rule and ``φ_j =
    ⟨∇φ_{j-1}, w_{j-1}⟩`` (reverse mode through it, recorded), order ``k + 1`` compares
    ``⟨∇φ_{k-1}, w_{k-1}⟩`` with central differences of ``φ_{k-1}`` along ``w_{k-1}``: the
    order-k check is the order-1 check of the order-(k-1) projection, as for gradients."""
    vs, us = directions
    rng = np.random.default_rng(seed + 1)
    ws = [[_direction(rng, x) for x in arrays] for _ in range(opdef.order - 1)]
    dtype = str(arrays[0].dtype)
    rtol, atol = opdef.tolerance.for_dtype(arrays[0].dtype.type)
    for k in range(1, opdef.order):
        below, w = ws[: k - 1], ws[k - 1]
        _, grads = _phi(opdef, arrays, params, (vs, us), below, gradient=True)
        analytic = float(sum(np.sum(g * wi) for g, wi in zip(grads, w, strict=True)))

        def projection(*points: Array, below: list[list[Array]] = below) -> tuple[Array, ...]:
            return (np.asarray(_phi(opdef, points, params, (vs, us), below)[0]),)

        with np.errstate(all="ignore"):
            numeric = directional_derivative(projection, arrays, w, [np.ones(())], dtype=dtype)
        num = float(numeric.central)
        if bool(np.any(numeric.kink)) or not np.isfinite(num):
            return
        if abs(analytic - num) <= float(numeric.error()) + atol + rtol * abs(num):
            continue
        raise JvpCheckError(
            _head(opdef.name, arrays, params, seed)
            + f"\n  order {k + 1}: d/dw <u, J v> (differentiated {k} time{'s' * (k > 1)}) by "
            f"reverse mode through jvp = {analytic:.12g}"
            + f"\n  by central differences = {num:.12g}"
            + f"\n  cause: {opdef.function.__name__}.jvp is not differentiable (a constant "
            "built from arrays) or its derivative is wrong: compute it from self.inputs and the "
            "tangents with ops",
            "jvp",
        )


def _phi(
    opdef: OpDef,
    points: Sequence[Array],
    params: Mapping[str, object],
    directions: tuple[Sequence[Array], Sequence[Array]],
    ws: Sequence[Sequence[Array]],
    *,
    gradient: bool = False,
) -> tuple[float, list[Array]]:
    """``φ_j`` at ``points`` (``j = len(ws)``, see ``_check_differentiable``) and, when
    ``gradient``, its gradient by reverse mode (zeros where nothing reaches)."""
    vs, us = directions
    zeros = [np.zeros_like(np.asarray(p)) for p in points]
    with dual_pass() as dual:
        xs = [Variable(np.array(a, copy=True)) for a in points]
        for x, v in zip(xs, vs, strict=True):
            dual.seed(x, np.asarray(v, dtype=x.dtype))
        terms = []
        for y, u in zip(opdef.outputs(*xs, **params), us, strict=True):
            t = dual.tangent(y)
            if isinstance(t, Variable):
                terms.append((t * u).sum())
    for w in ws:
        if not terms:
            break
        total = sum(terms[1:], terms[0])
        ones = Variable(np.ones_like(total._data), requires_grad=False)
        found = gradients(total, xs, ones, create_graph=True)
        terms = [(g * wi).sum() for g, wi in zip(found, w, strict=True) if g is not None]
    if not terms:
        return 0.0, zeros
    total = sum(terms[1:], terms[0])
    if not gradient:
        return float(total._data), zeros
    ones = Variable(np.ones_like(total._data), requires_grad=False)
    found = gradients(total, xs, ones, create_graph=False)
    grads = [z if g is None else np.asarray(g._data) for g, z in zip(found, zeros, strict=True)]
    return float(total._data), grads


def _failure(
    sides: _Sides,
    values: tuple[float, float, float],
    identity_holds: bool,
    num_ok: tuple[bool, bool] | None,
) -> JvpCheckError:
    jvp_side, vjp_side, num = values
    if num_ok is None:
        side: Side = "unclear"
        verdict = "no numerical projection here (a kink): which side is wrong is unclear"
    elif identity_holds:
        side = "both"
        verdict = "the JVP and the VJP agree, but not with the directional derivative: both wrong"
    elif num_ok == (False, True):
        side, verdict = "jvp", "the JVP is wrong: the VJP agrees with the directional derivative"
    elif num_ok == (True, False):
        side, verdict = "vjp", "the VJP is wrong: the JVP agrees with the directional derivative"
    elif num_ok == (False, False):
        side, verdict = "both", "both are wrong: neither agrees with the directional derivative"
    else:
        side = "unclear"
        verdict = "both agree with the directional derivative to its accuracy, not to rounding"
    names = sides.names
    rule = names.vjp if side == "vjp" else names.jvp
    message = (
        sides.head
        + f"\n  <u, J v> by the JVP   = {jvp_side:.12g}"
        + f"\n  <J^T u, v> by the VJP = {vjp_side:.12g}"
        + f"\n  d/dt <u, f(x + t v)> by central differences = {num:.12g}"
        + f"\n  {verdict}"
        + (f"\n  {names.note}" if names.note else "")
        + f"\n  cause: {rule} (the side named) computes another derivative than the forward's"
    )
    return JvpCheckError(message, side)


def _head(name: str, arrays: Sequence[Array], params: Mapping[str, object], seed: int) -> str:
    shapes = ", ".join(str(a.shape) for a in arrays)
    given = ", ".join(f"{k}={v!r}" for k, v in params.items())
    where = f"inputs of shapes {shapes} ({arrays[0].dtype if arrays else ''})"
    return (
        f"forward-mode rule check failed: op {name!r}, {where}"
        + (f" with {given}" if given else "")
        + f", direction seed {seed}"
    )


def _direction(rng: np.random.Generator, like: Array) -> Array:
    """Components of magnitude 0.5 to 1.5 and random sign, in ``like``'s dtype."""
    shape = np.shape(like)
    values = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return np.asarray(values, dtype=np.asarray(like).dtype)


def _jvp(
    opdef: OpDef,
    arrays: Sequence[Array],
    params: Mapping[str, object],
    vs: Sequence[Array],
    *,
    variables: bool,
) -> list[Array]:
    """``J v``, one array per output: by ``jvp_array`` when nothing is recorded, by ``jvp``
    (Variables) when the graph is."""
    with dual_pass() as dual:
        xs = [Variable(np.array(a, copy=True)) for a in arrays]
        for x, v in zip(xs, vs, strict=True):
            dual.seed(x, v.copy())
        if variables:
            ys = opdef.outputs(*xs, **params)
        else:
            with no_grad():
                ys = opdef.outputs(*xs, **params)
        result = []
        for y in ys:
            t = dual.tangent(y)
            data = (
                np.zeros_like(y._data) if t is None else t._data if isinstance(t, Variable) else t
            )
            result.append(np.array(data))
    return result


def _vjp(
    opdef: OpDef, arrays: Sequence[Array], params: Mapping[str, object], us: Sequence[Array]
) -> list[Array]:
    """``Jᵀ u``, one array per input, by the op's backward."""
    xs = [Variable(np.array(a, copy=True)) for a in arrays]
    ys = opdef.outputs(*xs, **params)
    total: Variable | None = None
    for y, u in zip(ys, us, strict=True):
        term = (y * u).sum()
        total = term if total is None else total + term
    assert total is not None
    seed = Variable(np.ones_like(total._data), requires_grad=False)
    found = gradients(total, xs, seed, create_graph=False)
    return [
        np.zeros_like(x._data) if g is None else g._data for g, x in zip(found, xs, strict=True)
    ]


def _reference(opdef: OpDef, params: Mapping[str, object]) -> ArrayFunction:
    """The forward in float64 (the dtype the op is declared in when it has no float64)."""
    dtype = np.float64 if "float64" in opdef.dtypes else np.dtype(opdef.dtypes[0]).type

    def f(*xs: Array) -> tuple[Array, ...]:
        with no_grad():
            ys = opdef.outputs(*[Variable(np.asarray(x, dtype=dtype)) for x in xs], **params)
        return tuple(np.asarray(y._data, dtype=np.float64) for y in ys)

    return f
