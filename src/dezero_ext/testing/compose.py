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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Variable
from dezero_ext.opdef import Declaration, ShapeRule
from dezero_ext.testing.example import Example
from dezero_ext.testing.op_targets import OpTarget, VariableTarget

__all__ = ["compositions"]

Composite = Callable[[Sequence[Variable], Mapping[str, object]], tuple[Variable, ...]]


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


def _permuted(xs: Sequence[Variable], indices: Sequence[Array]) -> list[Variable]:
    out: list[Variable] = []
    for x, index in zip(xs, indices, strict=True):
        y = _Permute(index)(x)
        assert isinstance(y, Variable)
        out.append(y)
    return out


class _Composition(VariableTarget):
    """A composition of an op as a target: its inputs are the op's, its conventions
    ``"between"`` everywhere, its reproduce line the op's (the check runs compositions)."""

    def __init__(self, op: OpTarget, composite: Composite, arity: int) -> None:
        spec = op.spec
        self.spec = Declaration(
            spec.name, arity=arity, tolerance=spec.tolerance, order=1, dtypes=spec.dtypes
        )
        self.source = op.source
        self.reproduce_source = op.reproduce_source  # the check of the op runs compositions
        self.composite = composite

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return self.composite(xs, params)


def _instances(op: OpTarget, ex: Example) -> tuple[str, Composite]:
    rng = ex.rng()
    b_index = [rng.permutation(x.size) for x in ex.inputs]
    c_index = [rng.permutation(x.size) for x in ex.inputs]

    def composite(xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        ya = op.apply(xs, params)
        yb = op.apply(_permuted(xs, b_index), params)
        yc = op.apply(_permuted(xs, c_index), params)
        # summed as halves: f(a) + f(b) near the dtype's largest value would overflow
        # (float16 tops out at 65504) and be blamed on the op; halving is exact (subnormals aside)
        return (*(p * 0.5 + q * 0.5 for p, q in zip(ya, yb, strict=True)), *yc)

    label = "f(a) + f(b), f(c): two instances in one graph, a third forward before any backward"
    return label + " (b, c: a with its elements permuted)", composite


def _inside(values: Array, ex: Example, i: int) -> bool:
    """Whether ``values`` may stand for input ``i``: inside its domain, which is not
    ``distinct`` (the spacing of an op's output is not checked here)."""
    domain = ex.target.spec.domain(i)
    return not domain.distinct and domain.contains(values)


def _on_own_output(op: OpTarget, ex: Example) -> tuple[str, Composite] | None:
    if len(ex.inputs) != 1:
        return None
    try:
        outputs = op.evaluate(ex.inputs, ex.params)
    except Exception:  # noqa: BLE001 - the op's own check reports its errors
        return None
    if len(outputs) != 1 or outputs[0].shape != ex.inputs[0].shape:
        return None
    if not _inside(outputs[0], ex, 0):
        return None

    def composite(xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return op.apply(op.apply(xs, params), params)

    return "f(f(x)): the op on its own output", composite


def _same_input_twice(op: OpTarget, ex: Example) -> tuple[str, Composite] | None:
    spec = op.spec
    if len(ex.inputs) != 2 or spec.sample is not None:
        return None
    if spec.shape_rule not in (ShapeRule.ELEMENTWISE, ShapeRule.BROADCAST):
        return None
    fits = [i for i in (0, 1) if _inside(ex.inputs[i], ex, 1 - i)]
    if not fits:
        return None
    i = fits[0]

    def composite(xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return op.apply([xs[i], xs[i]], params)

    return f"f(x, x): input {i} given twice", composite


def compositions(ex: Example) -> list[Example]:
    """The composition checks of ``ex`` (none unless its target is an op): examples whose
    target is the composition, in float64 when the op supports it."""
    op = ex.target
    if not isinstance(op, OpTarget) or ex.variant:
        return []
    dtype = "float64" if "float64" in op.spec.dtypes else ex.dtype
    built = [_instances(op, ex), _on_own_output(op, ex), _same_input_twice(op, ex)]
    return [
        replace(
            ex.in_dtype(dtype),
            target=_Composition(op, composite, len(ex.inputs)),
            variant=f"composition {label}",
            composed=True,
        )
        for label, composite in (b for b in built if b is not None)
    ]
