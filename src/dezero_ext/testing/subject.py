"""What one gradient check works on (internal): the ``Subject`` checked (an op or a function
of Variables, with its conventions) and the ``Example`` (inputs, dtype, tolerances, seed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, Unpack

import numpy as np
import numpy.typing as npt

from dezero_ext.core.config import no_grad
from dezero_ext.core.variable import Array, Variable
from dezero_ext.opdef import OpDef, Tolerance
from dezero_ext.testing.numerical import F64, Derivative
from dezero_ext.testing.report import Failure, FailureDetails, FailureKind, GradientCheckError
from dezero_ext.testing.vjp import LevelFunction

__all__ = [
    "Example",
    "Jacobians",
    "KinkRule",
    "ReferenceFunction",
    "Subject",
    "VariableFunction",
    "as_outputs",
    "describe",
    "make_subject",
    "random_direction",
    "reference_function",
    "variables",
]

VariableFunction: TypeAlias = Callable[..., "Variable | tuple[Variable, ...]"]
"""A function of Variables returning one Variable or a tuple of them."""

KinkRule = Literal["left", "right", "mean", "between", "first", "split"]
ReferenceFunction: TypeAlias = Callable[..., tuple[npt.NDArray[np.floating], ...]]


@dataclass(frozen=True, slots=True)
class Subject:
    name: str
    plugin: str | None
    apply: LevelFunction
    kink_rules: tuple[KinkRule, ...]
    ties: Literal["none", "first", "split"]
    tolerance: Tolerance
    max_order: int
    dtypes: tuple[str, ...]


def as_outputs(result: object, name: str) -> tuple[Variable, ...]:
    items = result if isinstance(result, tuple) else (result,)
    outputs: list[Variable] = []
    for item in items:
        if not isinstance(item, Variable):
            raise TypeError(f"{name} returned {type(item).__name__}, expected Variables")
        outputs.append(item)
    return tuple(outputs)


def make_subject(
    target: OpDef | VariableFunction,
    params: Mapping[str, object],
    arity: int,
    plugin: str | None,
    tolerance: Tolerance | None,
) -> Subject:
    if isinstance(target, OpDef):
        op = target

        def apply_op(*xs: Variable) -> tuple[Variable, ...]:
            return op.outputs(*xs, **params)

        rules: tuple[KinkRule, ...] = tuple(d.kink_rule for d in op.domains)
        return Subject(
            op.name,
            plugin,
            apply_op,
            rules,
            op.ties,
            tolerance or op.tolerance,
            op.order,
            op.dtypes,
        )
    fn = target
    name = getattr(fn, "__name__", type(fn).__name__)

    def apply_fn(*xs: Variable) -> tuple[Variable, ...]:
        return as_outputs(fn(*xs, **params), name)

    rule: KinkRule = "between"
    between = (rule,) * arity
    return Subject(
        name,
        plugin,
        apply_fn,
        between,
        "none",
        tolerance or Tolerance(),
        4,
        ("float64", "float32", "float16"),
    )


def random_direction(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> F64:
    """Random direction components: a sign times a magnitude in [0.5, 1.5] (no tiny
    component hides an error), rounded to ``dtype`` so both sides use the same numbers."""
    values = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)
    rounded: F64 = np.asarray(values, dtype=dtype).astype(np.float64)
    return rounded


@dataclass(slots=True)
class Example:
    subject: Subject
    inputs: tuple[Array, ...]
    params: Mapping[str, object]
    dtype: str
    reference: str
    seed: int
    rtol: float
    atol: float
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def failure(
        self, order: int, kind: FailureKind, **details: Unpack[FailureDetails]
    ) -> GradientCheckError:
        return GradientCheckError(
            Failure(
                op=self.subject.name,
                plugin=self.subject.plugin,
                order=order,
                dtype=self.dtype,
                kind=kind,
                input_shapes=tuple(x.shape for x in self.inputs),
                params=dict(self.params),
                inputs=self.inputs,
                seed=self.seed,
                rtol=self.rtol,
                atol=self.atol,
                **details,
            )
        )


@dataclass(frozen=True, slots=True)
class Jacobians:
    """Analytic and numerical Jacobian blocks ``[output][input]``, each ``(out.size, in.size)``."""

    analytic: list[list[F64]]
    numerical: list[list[Derivative]]
    output_shapes: tuple[tuple[int, ...], ...]


def variables(arrays: Iterable[Array], dtype: str) -> list[Variable]:
    return [Variable(np.asarray(a, dtype=dtype)) for a in arrays]


def reference_function(level: LevelFunction, order: int, reference: str) -> ReferenceFunction:
    def f(*arrays: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.floating], ...]:
        xs = variables(arrays, reference)
        if order == 1:
            with no_grad():
                return tuple(y.data for y in level(*xs))
        return tuple(y.data for y in level(*xs))

    return f


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
