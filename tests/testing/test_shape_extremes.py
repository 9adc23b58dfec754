"""Every shape the shape rule allows (issue 19, item 4): every input 0-d, size-0 dimensions
and broadcasting extremes are checked in the default run, as explicit extra examples; an op
whose backward breaks only on empty inputs fails with a report naming the shape, not a crash
of the checker."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Declaration, Domain, Function, OpDef, ShapeRule, Variable
from dezero_ext.ops import sum_to
from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing.shapes import extreme_cases, values_for


class Square(Function):
    def forward(self, x: Array) -> Array:
        y: Array = x * x
        return y

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 2 * x * gy


class EmptyBreakingSquare(Square):
    """Right on every non-empty input; its backward takes a maximum, which an empty array has
    not (``ValueError``)."""

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        np.max(x.data)  # fault: raises on size 0
        return 2 * x * gy


class ScaledAdd(Function):
    """``x0 + 2 * x1``, broadcasting."""

    def forward(self, x0: Array, x1: Array) -> Array:
        y: Array = x0 + 2 * x1
        return y

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        return sum_to(gy, x0.shape), sum_to(2 * gy, x1.shape)


class OneBroadcastOnlyAdd(ScaledAdd):
    """Sums the gradient back to a broadcast input only when it has as many dimensions as
    the output: ``(1,)`` against ``(3, 4)`` gets a gradient of the wrong shape."""

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        g0 = sum_to(gy, x0.shape) if x0.ndim == gy.ndim else gy
        return g0, sum_to(2 * gy, x1.shape)


def _op(function: type[Function], name: str, rule: ShapeRule, arity: int = 1) -> OpDef:
    return OpDef(name, function, arity=arity, domains=(Domain(-2.0, 2.0),), shape_rule=rule)


SQUARE = _op(Square, "square", ShapeRule.ELEMENTWISE)
EMPTY_BREAKING = _op(EmptyBreakingSquare, "empty_breaking_square", ShapeRule.ELEMENTWISE)
SCALED_ADD = _op(ScaledAdd, "scaled_add", ShapeRule.BROADCAST, 2)
ONE_BROADCAST_ONLY = _op(OneBroadcastOnlyAdd, "one_broadcast_only_add", ShapeRule.BROADCAST, 2)


def test_the_extremes_of_each_rule() -> None:
    def shapes(rule: ShapeRule, arity: int) -> list[tuple[tuple[int, ...], ...]]:
        spec = Declaration("x", arity=arity, shape_rule=rule)
        return [tuple(x.shape for x in case.inputs) for _, case in extreme_cases(spec)]

    assert ((), ()) in shapes(ShapeRule.BROADCAST, 2)
    assert ((1,), (3, 4)) in shapes(ShapeRule.BROADCAST, 2)
    assert ((3, 1), (1, 4)) in shapes(ShapeRule.BROADCAST, 2)
    assert any(0 in s[0] for s in shapes(ShapeRule.BROADCAST, 2))
    assert shapes(ShapeRule.ELEMENTWISE, 1)[:2] == [((),), ((0,),)]
    assert ((2, 0), (0, 3)) in shapes(ShapeRule.MATMUL, 2)
    reductions = extreme_cases(Declaration("r", shape_rule=ShapeRule.REDUCTION))
    for _, case in reductions:  # never reduced over an empty axis
        axis = case.params["axis"]
        axes = (
            () if axis == () else (axis,) if isinstance(axis, int) else range(case.inputs[0].ndim)
        )
        assert all(case.inputs[0].shape[a] > 0 for a in axes)


def test_a_sampler_draws_its_own_shapes() -> None:
    spec = Declaration("s", sample=lambda draw: None)  # type: ignore[arg-type,return-value]  # never called
    assert extreme_cases(spec) == []


def test_values_stay_in_the_domain_and_distinct_ones_apart() -> None:
    rng = np.random.default_rng(0)
    domain = Domain(-1.0, 1.0, exclude=(0.0,), margin=0.1)
    x = values_for(domain, (5, 7), "float32", rng)
    assert x.dtype == np.float32 and x.shape == (5, 7) and domain.contains(x)
    spaced = values_for(Domain(-2.0, 2.0, distinct=True), (10,), "float64", rng)
    assert np.min(np.diff(np.sort(spaced))) > 0.3


def test_a_backward_broken_only_on_empty_inputs_fails_with_a_clear_report() -> None:
    assert check_op(SQUARE).verdict == "ok"
    result = check_op(EMPTY_BREAKING)
    assert result.verdict == "FAIL", result.report  # not ERROR: the checker did not crash
    assert result.failure is not None
    f = result.failure.failure
    assert f.kind == "error" and "ValueError" in f.message
    assert 0 in f.example.input_shapes[0]
    assert "variant:       shape extreme: size 0" in result.report
    assert "np.array([], dtype=np.float" in result.report  # the snippet rebuilds it


def test_a_gradient_wrong_only_for_a_lower_rank_broadcast_fails() -> None:
    assert check_op(SCALED_ADD).verdict == "ok"
    # one drawn example (Hypothesis's simplest: every input 0-d) passes; an extreme fails it
    result = check_op(ONE_BROADCAST_ONLY, CheckOptions(examples=1))
    assert result.verdict == "FAIL", result.report
    assert result.failure is not None and result.failure.failure.kind == "shape"
    assert "variant:       shape extreme: broadcast: (1,) against (3, 4)" in result.report


@pytest.mark.parametrize("name", ["add", "sum", "matmul", "maximum", "exp"])
def test_bundled_ops_pass_their_extremes(name: str) -> None:
    from dezero_ext import get_registry

    result = check_op(get_registry().get(name), CheckOptions(examples=1))
    assert result.verdict == "ok", result.report
