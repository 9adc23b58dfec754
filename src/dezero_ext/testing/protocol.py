"""What the gradient checker checks: the ``Target`` protocol (its ``spec`` is a
``Declaration``, the class ``OpDef`` extends).

A target evaluates its outputs from input arrays and gives its derivative projections the way
its own framework computes them. For cotangents ``c_1, ..., c_k`` the order-k projection is

    G_0(x) = f(x),    G_j(x) = the gradient of <c_j, G_{j-1}(x)> with respect to x,

so ``G_k`` is a function of the inputs again, and the checker checks the order-k derivative
by differentiating ``G_{k-1}`` numerically against its pullback. ``dezero_ext.testing``
implements the protocol for an ``OpDef`` and for a plain function of Variables
(``dezero_ext.testing.op_targets``); an adapter for another framework implements the same three
members.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Declaration

__all__ = [
    "Cotangents",
    "FaultKind",
    "Declaration",
    "HoldsConstants",
    "Pullback",
    "Target",
    "TargetFaultError",
    "TargetSpec",
    "held_declaration",
]

Cotangents: TypeAlias = Sequence[Sequence[Array]]
"""``[c_1, ..., c_k]``: ``c_1`` one array per output of ``f``, each later one one array per
input (the outputs of ``G_{j-1}`` have the inputs' shapes). They come in the dtype of the
example checked; cast them to the inputs' dtype (the reference evaluation runs in float64)."""

Pullback: TypeAlias = Callable[[Sequence[Array]], tuple[Array, ...]]
"""``v -> vᵀJ``: the gradient of ``<v, G_k(x)>`` with respect to each input, one array per
input (zeros for an input nothing reaches), in the dtype the framework returns; ``v`` has
one array per output of ``G_k``, in the inputs' dtype."""


TargetSpec: TypeAlias = Declaration
"""The former name of ``Declaration`` (``dezero_ext.opdef``): the one class that declares a
target, as ``TargetSpec(name, ...)`` built one for anything that is not an ``OpDef``."""


@runtime_checkable
class Target(Protocol):
    """What the gradient checker needs from anything it checks.

    - ``spec``: the ``Declaration`` (name, inputs, domains, order, dtypes, tolerance, kink
      rules, ties; an ``OpDef`` is one) the checks are drawn from and judged by;
    - ``source``: a Python expression for the target, for the report's reproduce line;
    - ``evaluate(inputs, params, cotangents)``: ``G_k`` at ``inputs`` (``k =
      len(cotangents)``; ``k = 0`` is the function's outputs), computed in the inputs' dtype;
    - ``linearize(inputs, params, cotangents)``: ``G_k``'s outputs and its ``Pullback``,
      which the checker may call several times (once per Jacobian row).

    Either method may raise ``TargetFaultError`` for a fault the framework sees itself (an input
    modified in place); anything else it raises is reported as the op raising.
    """

    @property
    def spec(self) -> Declaration: ...

    @property
    def source(self) -> str: ...

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]: ...

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]: ...


@runtime_checkable
class HoldsConstants(Protocol):
    """A ``Target`` that can take some of its inputs as its framework's constants (the
    checker's constant-input path: dezero_ext's plain arrays, PyTorch's tensors that do not
    require grad, JAX's closed-over arrays)."""

    def holding(self, constants: Sequence[Array | None]) -> Target:
        """This target with input ``i`` passed as the constant ``constants[i]`` wherever that
        is not None (one entry per input): a ``Target`` of the other inputs, in order, whose
        pullback gives their gradients only (``held_declaration`` declares it)."""
        ...


def held_declaration(spec: Declaration, constants: Sequence[Array | None]) -> Declaration:
    """``spec`` for the inputs that are not held constant (``HoldsConstants.holding``): their
    domains, the same tolerance, order and dtypes; nothing to draw (the held target is checked
    on the drawn example's own values), no reference (the op's own check has it) and no ties:
    an input tied with a constant is an ordinary kink of the held target (any value between
    the one-sided derivatives), and moving its inputs together does not keep that tie (the
    op's own check holds it to its ``ties`` convention)."""
    kept = [i for i, c in enumerate(constants) if c is None]
    return Declaration(
        spec.name,
        arity=len(kept),
        domains=tuple(spec.domain(i) for i in kept),
        tolerance=spec.tolerance,
        order=spec.order,
        dtypes=spec.dtypes,
    )


FaultKind: TypeAlias = Literal[
    "dtype", "inplace", "fast_path", "namespace", "early_compute", "backend"
]
"""The faults a target may detect itself: a ``backward`` that computes in the wrong
``dtype``, an op that modifies an array it was given ``inplace``, a first-order
``backward_array`` that disagrees with ``backward`` (``fast_path``); on another array backend
(``testing.backends``), a result of another library or device (``namespace``), a Dask graph
computed before the checker asked (``early_compute``), outputs that are not NumPy's
(``backend``)."""


class TargetFaultError(Exception):
    """A fault a target detects in what it runs (a wrong dtype inside ``backward``, an input
    modified in place); the checker reports it with its ``kind``, ``input`` and ``cause``."""

    def __init__(
        self, kind: FaultKind, message: str, *, at_input: int | None = None, cause: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.input = at_input
        self.cause = cause
