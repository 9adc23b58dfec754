"""Composition checks: an op applied in small compositions, whose gradients are checked like
the op's own. They catch what one call on one example cannot: state kept between instances or
between calls (a class attribute, a module-level cache), which shows only when two instances
are alive at once, when the op runs on its own output, or when one input feeds it twice.

- ``f(a) + f(b), f(c)``: two instances in one graph, and a third forward before any backward
  (``b`` and ``c`` are ``a`` with the elements of each input permuted; the sum is taken as
  halves, exact but for subnormals, so outputs near the dtype's largest value do not
  overflow);
- ``f(f(x))``: a one-input op whose output has its input's shape and lies in its domain;
- ``f(x, x)``: a two-input op with one shape rule, when ``x`` lies in both domains.

Each runs at order 1, in float64 when the op supports it, with any convention allowed at a
kink (``"between"``): the op's own conventions are checked on the op itself.

A composition is written once, over ``Calls`` (apply the target, permute a value, average two),
and runs in the target's own framework: on dezero_ext Variables for an op, on tensors for an
adapter target (``Composable``: a torch ``Function`` is composed in torch's graph, a JAX
``custom_vjp`` in JAX's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Variable
from dezero_ext.opdef import Declaration, ShapeRule
from dezero_ext.testing.example import Example
from dezero_ext.testing.op_targets import OpTarget, VariableTarget
from dezero_ext.testing.protocol import Target

__all__ = ["Calls", "Composable", "Composite", "compositions"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Calls(Generic[V]):
    """What a composition does with a target's values, in the target's framework: ``apply``
    the target, ``permute`` a value's elements (flat ``index``, differentiably), ``average``
    two outputs (as halves, so outputs near the dtype's largest value do not overflow)."""

    apply: Callable[[Sequence[V], Mapping[str, object]], tuple[V, ...]]
    permute: Callable[[V, Array], V]
    average: Callable[[V, V], V]


class Composite(Protocol):
    """A composition of a target, written over its ``Calls``: the outputs for inputs ``xs``."""

    def __call__(
        self, calls: Calls[V], xs: Sequence[V], params: Mapping[str, object]
    ) -> tuple[V, ...]: ...


@runtime_checkable
class Composable(Protocol):
    """A target that builds its compositions in its own framework (the adapters)."""

    @property
    def spec(self) -> Declaration: ...

    def composed(self, composite: Composite, spec: Declaration) -> Target:
        """The target computing ``composite`` of itself, declared by ``spec``."""
        ...


class _Permute(Function):
    """The elements of ``x`` in the order ``index`` (flat), in ``x``'s shape; its backward is
    the inverse permutation, so it is differentiable to any order."""

    def __init__(self, index: Array) -> None:
        self.index = index

    def forward(self, x: Array) -> Array:
        permuted: Array = x.reshape(-1)[self.index].reshape(x.shape)
        return permuted

    def backward(self, gy: Variable) -> Variable:
        result = _Permute(np.argsort(self.index))(gy)
        assert isinstance(result, Variable)
        return result


def _permute(x: Variable, index: Array) -> Variable:
    y = _Permute(index)(x)
    assert isinstance(y, Variable)
    return y


def _average(p: Variable, q: Variable) -> Variable:
    return p * 0.5 + q * 0.5


class _Composition(VariableTarget):
    """A composition of an op as a target: its inputs are the op's, its conventions
    ``"between"`` everywhere, its reproduce line the op's (the check runs compositions)."""

    def __init__(self, op: OpTarget, composite: Composite, spec: Declaration) -> None:
        self.spec = spec
        self.source = op.source
        self.reproduce_source = op.reproduce_source  # the check of the op runs compositions
        self.composite = composite
        self.calls = Calls(op.apply, _permute, _average)

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return self.composite(self.calls, xs, params)


def _instances(ex: Example) -> tuple[str, Composite]:
    rng = ex.rng()
    b_index = [rng.permutation(x.size) for x in ex.inputs]
    c_index = [rng.permutation(x.size) for x in ex.inputs]

    def composite(calls: Calls[V], xs: Sequence[V], params: Mapping[str, object]) -> tuple[V, ...]:
        def permuted(indices: Sequence[Array]) -> list[V]:
            return [calls.permute(x, i) for x, i in zip(xs, indices, strict=True)]

        ya = calls.apply(xs, params)
        yb = calls.apply(permuted(b_index), params)
        yc = calls.apply(permuted(c_index), params)
        # summed as halves: f(a) + f(b) near the dtype's largest value would overflow
        # (float16 tops out at 65504) and be blamed on the op; halving is exact (subnormals aside)
        return (*(calls.average(p, q) for p, q in zip(ya, yb, strict=True)), *yc)

    label = "f(a) + f(b), f(c): two instances in one graph, a third forward before any backward"
    return label + " (b, c: a with its elements permuted)", composite


def _inside(values: Array, ex: Example, i: int) -> bool:
    """Whether ``values`` may stand for input ``i``: inside its domain, which is not
    ``distinct`` (the spacing of an op's output is not checked here)."""
    domain = ex.target.spec.domain(i)
    return not domain.distinct and domain.contains(values)


def _on_own_output(ex: Example) -> tuple[str, Composite] | None:
    if len(ex.inputs) != 1:
        return None
    try:
        outputs = ex.target.evaluate(ex.inputs, ex.params)
    except Exception:  # noqa: BLE001 - the op's own check reports its errors
        return None
    if len(outputs) != 1 or outputs[0].shape != ex.inputs[0].shape:
        return None
    if not _inside(outputs[0], ex, 0):
        return None

    def composite(calls: Calls[V], xs: Sequence[V], params: Mapping[str, object]) -> tuple[V, ...]:
        return calls.apply(calls.apply(xs, params), params)

    return "f(f(x)): the op on its own output", composite


def _same_input_twice(ex: Example) -> tuple[str, Composite] | None:
    spec = ex.target.spec
    if len(ex.inputs) != 2 or spec.sample is not None:
        return None
    if spec.shape_rule not in (ShapeRule.ELEMENTWISE, ShapeRule.BROADCAST):
        return None
    fits = [i for i in (0, 1) if _inside(ex.inputs[i], ex, 1 - i)]
    if not fits:
        return None
    i = fits[0]

    def composite(calls: Calls[V], xs: Sequence[V], params: Mapping[str, object]) -> tuple[V, ...]:
        return calls.apply([xs[i], xs[i]], params)

    return f"f(x, x): input {i} given twice", composite


def compositions(ex: Example) -> list[Example]:
    """The composition checks of ``ex`` (none unless its target is an op or ``Composable``):
    examples whose target is the composition, in float64 when the target supports it."""
    target = ex.target
    if ex.variant or not isinstance(target, OpTarget | Composable):
        return []
    spec = target.spec
    dtype = "float64" if "float64" in spec.dtypes else ex.dtype
    composed = Declaration(
        spec.name, arity=len(ex.inputs), tolerance=spec.tolerance, order=1, dtypes=spec.dtypes
    )
    built = [_instances(ex), _on_own_output(ex), _same_input_twice(ex)]
    return [
        replace(
            ex.in_dtype(dtype),
            target=_composition(target, composite, composed),
            variant=f"composition {label}",
            composed=True,
        )
        for label, composite in (b for b in built if b is not None)
    ]


def _composition(target: OpTarget | Composable, composite: Composite, spec: Declaration) -> Target:
    if isinstance(target, OpTarget):
        return _Composition(target, composite, spec)
    return target.composed(composite, spec)
