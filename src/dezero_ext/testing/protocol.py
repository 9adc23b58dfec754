"""What the gradient checker checks: the ``Target`` protocol, and the ``Declaration`` a target
is checked against.

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
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Domain, KinkRule, Sampler, ShapeRule, Ties, Tolerance

__all__ = [
    "Cotangents",
    "FaultKind",
    "Declaration",
    "Pullback",
    "Target",
    "TargetFaultError",
    "TargetSpec",
    "domain_of",
    "kink_rule",
]

Cotangents: TypeAlias = Sequence[Sequence[Array]]
"""``[c_1, ..., c_k]``: ``c_1`` one array per output of ``f``, each later one one array per
input (the outputs of ``G_{j-1}`` have the inputs' shapes). They come in the dtype of the
example checked; cast them to the inputs' dtype (the reference evaluation runs in float64)."""

Pullback: TypeAlias = Callable[[Sequence[Array]], tuple[Array, ...]]
"""``v -> vᵀJ``: the gradient of ``<v, G_k(x)>`` with respect to each input, one array per
input (zeros for an input nothing reaches), in the dtype the framework returns; ``v`` has
one array per output of ``G_k``, in the inputs' dtype."""


class Declaration(Protocol):
    """What a target declares, as an ``OpDef`` does (every ``OpDef`` is one): its inputs,
    where they are drawn from, and the conventions it is checked against."""

    @property
    def name(self) -> str: ...
    @property
    def arity(self) -> int: ...
    @property
    def optional(self) -> int: ...
    @property
    def domains(self) -> tuple[Domain, ...]: ...
    @property
    def shape_rule(self) -> ShapeRule: ...
    @property
    def sample(self) -> Sampler | None: ...
    @property
    def tolerance(self) -> Tolerance: ...
    @property
    def order(self) -> int: ...
    @property
    def dtypes(self) -> tuple[str, ...]: ...
    @property
    def ties(self) -> Ties: ...


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A ``Declaration`` for a target that is not an ``OpDef`` (a function, another
    framework's op). The fields mean what ``OpDef``'s do; ``domains`` may be empty (the
    default ``Domain()``) or one per input."""

    name: str
    arity: int = 1
    optional: int = 0
    domains: tuple[Domain, ...] = ()
    shape_rule: ShapeRule = ShapeRule.ELEMENTWISE
    sample: Sampler | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    order: int = 1
    dtypes: tuple[str, ...] = ("float64", "float32")
    ties: Ties = "none"

    def __post_init__(self) -> None:
        if not isinstance(self.arity, int) or self.arity < 0:
            raise ValueError(f"TargetSpec {self.name!r}: arity must be an int >= 0")
        if self.domains and len(self.domains) not in (1, self.arity):
            raise ValueError(
                f"TargetSpec {self.name!r}: {len(self.domains)} domains for {self.arity} inputs"
            )


def domain_of(spec: Declaration, i: int) -> Domain:
    """The ``Domain`` of input ``i``: its own, the single one given for all, or ``Domain()``."""
    if not spec.domains:
        return Domain()
    return spec.domains[min(i, len(spec.domains) - 1)]


def kink_rule(spec: Declaration, i: int) -> KinkRule:
    """The kink rule of input ``i``."""
    return domain_of(spec, i).kink_rule


@runtime_checkable
class Target(Protocol):
    """What the gradient checker needs from anything it checks.

    - ``spec``: the ``Declaration`` (name, inputs, domains, order, dtypes, tolerance, kink
      rules, ties) the checks are drawn from and judged by;
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


FaultKind: TypeAlias = Literal["dtype", "inplace", "fast_path"]
"""The faults a target may detect itself: a ``backward`` that computes in the wrong
``dtype``, an op that modifies an array it was given ``inplace``, a first-order
``backward_array`` that disagrees with ``backward`` (``fast_path``)."""


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
