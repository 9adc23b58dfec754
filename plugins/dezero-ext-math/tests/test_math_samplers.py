"""The math plugin's declarations are usable: cases drawn from each OpDef (its ``sample`` or its
shape rule and Domain) pass the float64 derivative checks up to the declared order.

A small stand-in for the project's checker (``dezero_ext.testing``), so that the samplers and
domains are exercised even where that checker is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Case, OpDef, ShapeRule, Variable, get_registry
from tests.numpy_draw import NumpyDraw
from tests.oracle import assert_grad, assert_second_order

MATH_OPS = sorted(
    name
    for name in get_registry().ops()
    if get_registry().provider(name).distribution == "dezero-ext-math"
)


def draw_case(opdef: OpDef, draw: NumpyDraw) -> Case:
    if opdef.sample is not None:
        return opdef.sample(draw)
    shape = draw.shape(max_dims=3)
    inputs = tuple(draw.array(shape, d) for d in opdef.domains)
    if opdef.shape_rule is not ShapeRule.REDUCTION:
        return Case(inputs)
    axis: int | tuple[int, ...] | None = None
    if shape and draw.boolean():
        axes = [a for a in range(len(shape)) if draw.boolean()]
        axis = tuple(axes) if draw.boolean() else (axes[0] if axes else -1)
    return Case(inputs, {"axis": axis, "keepdims": draw.boolean()})


@pytest.mark.parametrize("name", MATH_OPS)
@pytest.mark.parametrize("seed", range(8))
def test_drawn_cases_pass_the_derivative_checks_to_the_declared_order(name: str, seed: int) -> None:
    opdef = get_registry().get(name)
    case = draw_case(opdef, NumpyDraw(seed, opdef.domains[0]))
    for x, d in zip(case.inputs, opdef.domains, strict=True):
        assert x.dtype == np.float64
        if opdef.sample is None and not d.distinct:
            assert all(d.contains(float(v)) for v in x.ravel()), (name, x)

    def op(*xs: Variable) -> Variable:
        y = opdef(*xs, **case.params)
        assert isinstance(y, Variable)
        return y

    assert_grad(op, *case.inputs, seed=seed)
    if opdef.order >= 2:
        assert_second_order(op, *case.inputs, seed=seed)


def test_the_ops_with_parameters_draw_them() -> None:
    registry = get_registry()
    clip_bounds = {
        (c.params["low"], c.params["high"])
        for c in (
            draw_case(registry.get("clip"), NumpyDraw(s, registry.get("clip").domains[0]))
            for s in range(40)
        )
    }
    assert len(clip_bounds) > 2
    (clip_domain,) = registry.get("clip").domains
    for low, high in clip_bounds:
        for bound in (low, high):
            assert bound is None or bound in clip_domain.kinks  # inputs keep away from them
