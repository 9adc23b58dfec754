"""Central differences of an op declared ``elementwise`` on stacked points (``stacked.py``):
the same numbers as one call per point, at every order and with broadcasting, and a wrong
declaration (an op mixing elements, an op failing on the stacked shape) costs no verdict."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, ShapeRule, Variable
from dezero_ext.registry import get_registry
from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing import stacked as stacked_module
from dezero_ext.testing.gradcheck import make_example
from dezero_ext.testing.numerical import ArrayFunction, directional_derivative, numerical_jacobian
from dezero_ext.testing.op_targets import OpTarget
from dezero_ext.testing.protocol import Target
from dezero_ext.testing.stacked import StackedFunction

_ANY = Domain(-2.0, 2.0)


def _example(
    name: str, inputs: list[Array], order: int, held: Array | None = None
) -> tuple[ArrayFunction, StackedFunction | None, list[Array]]:
    """The reference functions (one call per point, stacked) of ``name`` at order ``order``
    (its second input ``held`` constant, if given)."""
    target: Target = OpTarget(get_registry().get(name))
    if held is not None:
        target = OpTarget(get_registry().get(name)).holding([None, held])
    ex = make_example(target, inputs, {}, seed=3)
    rng = np.random.default_rng(5)
    outputs = ex.target.evaluate(ex.inputs, ex.params)
    cotangents = [[rng.uniform(-1, 1, y.shape) for y in outputs]]
    cotangents += [[rng.uniform(-1, 1, x.shape) for x in ex.inputs] for _ in range(order - 2)]
    cotangents = cotangents[: order - 1]
    return ex.reference_function(cotangents), ex.stacked_function(cotangents), list(ex.inputs)


@pytest.mark.parametrize("held", [False, True])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_stacked_points_give_the_same_numbers(order: int, held: bool) -> None:
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-2, 2, (2, 3)), rng.uniform(0.5, 2, (3,))]  # broadcast, ranks differ
    if held:  # a constant of a higher rank than the input left: x / c
        inputs, constant = [inputs[1]], inputs[0] + 3.0
        single, stacked, xs = _example("div", inputs, order, held=constant)
    else:
        single, stacked, xs = _example("div", inputs, order)
    assert stacked is not None
    at_center = tuple(np.asarray(y, dtype=np.float64) for y in single(*xs))
    assert stacked_module._stacked_rows(stacked, [xs, xs], at_center) is not None  # accepted
    one = numerical_jacobian(single, xs)
    both = numerical_jacobian(single, xs, stacked=stacked)
    for row_one, row_both in zip(one, both, strict=True):
        for a, b in zip(row_one, row_both, strict=True):
            for field in ("central", "left", "right", "kink", "step", "rounding"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    us = [rng.uniform(-1, 1, x.shape) for x in xs]
    vs = [rng.uniform(-1, 1, y.shape) for y in single(*xs)]
    d1 = directional_derivative(single, xs, us, vs, atol=1e-12)
    d2 = directional_derivative(single, xs, us, vs, atol=1e-12, stacked=stacked)
    assert (float(d1.central), float(d1.step)) == (float(d2.central), float(d2.step))


def test_a_target_that_does_not_declare_it_is_evaluated_point_by_point() -> None:
    _, stacked, _ = _example("sum", [np.ones((2, 2))], 1)
    assert stacked is None


class _Cumsum(Function):
    """Mixes elements along the first axis (a new leading axis too): not elementwise."""

    def forward(self, x: Array) -> Array:
        return np.cumsum(x.reshape(-1)).reshape(x.shape)

    def backward(self, gy: Variable) -> Variable:
        flat = gy.data.reshape(-1)
        return Variable(np.cumsum(flat[::-1])[::-1].reshape(gy.shape))


class _TwoDims(Function):
    """Squares, refusing more than two dimensions (a stacked call fails)."""

    def forward(self, x: Array) -> Array:
        if x.ndim > 2:
            raise ValueError("at most 2-d")
        return x * x

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * 2.0 * x


@pytest.mark.parametrize("function", [_Cumsum, _TwoDims])
def test_a_wrong_declaration_costs_no_verdict(
    function: type[Function], monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected: list[bool] = []
    real = stacked_module._stacked_rows

    def counted(stacked: object, points: list[list[Array]], at_center: object) -> object:
        rows = real(stacked, points, at_center)  # type: ignore[arg-type]
        x = points[0][0]
        if x.ndim == 2 and x.size:  # not the shape extremes (0-d: _TwoDims takes them)
            rejected.append(rows is None)
        return rows

    monkeypatch.setattr(stacked_module, "_stacked_rows", counted)
    honest = OpDef("op", function, domains=(_ANY,), ndim=(2,), shape_rule=ShapeRule.ELEMENTWISE)
    claimed = replace(honest, elementwise=True)
    options = CheckOptions(examples=5, full_jacobian=True)
    expected, got = check_op(honest, options), check_op(claimed, options)
    assert rejected and all(rejected)  # every stacked call was refused, point by point instead
    assert (got.verdict, got.examples, got.worst_rel_error) == (
        expected.verdict,
        expected.examples,
        expected.worst_rel_error,
    )
    assert got.verdict == "ok"


def test_elementwise_is_validated() -> None:
    with pytest.raises(TypeError, match="elementwise must be a bool"):
        OpDef("op", _TwoDims, elementwise=1)  # type: ignore[arg-type]
