"""The strategies built from an op's declaration keep to its Domain and ShapeRule."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dezero_ext import Domain, Draw, get_registry
from dezero_ext.opdef import ShapeRule
from dezero_ext.testing import array_in, cases
from dezero_ext.testing.strategies import MAX_SIZE, HypothesisDraw, shapes_for

DOMAINS = [
    Domain(),
    Domain(-3.0, 3.0, exclude=(0.0,), margin=0.3),
    Domain(-2.0, 2.0, kinks=(0.0, 1.0), kink_rule="left"),
    Domain(-1.0, 5.0, positive=True),
    Domain(-1.0, 1.0, distinct=True, margin=0.1),
]


def test_intervals_cut_margins_around_points() -> None:
    domain = Domain(-1.0, 1.0, kinks=(0.0,), margin=0.25)
    assert domain.intervals() == [(-1.0, -0.25), (0.25, 1.0)]
    assert Domain(-1.0, 1.0, positive=True, margin=0.1).intervals() == [(0.1, 1.0)]


def test_intervals_in_a_dtype_round_their_bounds_inward() -> None:
    (low, high), *_ = Domain(0.1, 0.3).intervals_in("float32")
    assert low >= 0.1 and high <= 0.3  # float32(0.1) is above 0.1, float32(0.3) above 0.3
    assert low == float(np.float32(0.1)) and high == float(np.nextafter(np.float32(0.3), 0))
    assert Domain(0.1, 0.3).intervals_in("float64") == [(0.1, 0.3)]
    # [1e-6, 1e-5] holds only float16 subnormals, which the checks never draw: dropped
    pieces = Domain(1e-6, 1.0, exclude=(2e-5,), margin=1e-5).intervals_in("float16")
    assert len(pieces) == 1 and pieces[0][0] >= 3e-5 and pieces[0][1] == 1.0


@given(st.data(), st.sampled_from(DOMAINS), st.sampled_from(["float64", "float32"]))
def test_arrays_stay_inside_the_domain(data: st.DataObject, domain: Domain, dtype: str) -> None:
    shape = data.draw(st.sampled_from([(), (3,), (2, 4)]))
    x = data.draw(array_in(domain, shape, dtype))
    assert x.shape == shape and x.dtype == np.dtype(dtype)
    assert np.isfinite(x).all()
    for value in x.reshape(-1).tolist():
        assert domain.contains(value), (value, domain)
        assert value == 0.0 or abs(value) >= np.finfo(dtype).tiny  # no subnormals
    if domain.distinct and x.size > 1:
        gaps = np.diff(np.sort(x.reshape(-1)))
        assert gaps.min() >= domain.margin * (1 - 1e-6)


@given(st.data(), st.sampled_from(list(ShapeRule)), st.integers(1, 3))
def test_shapes_follow_the_rule(data: st.DataObject, rule: ShapeRule, arity: int) -> None:
    if rule is ShapeRule.MATMUL:
        arity = 2
    shapes = data.draw(shapes_for(rule, arity))
    assert len(shapes) == arity
    if rule is ShapeRule.ELEMENTWISE or rule is ShapeRule.REDUCTION:
        assert len(set(shapes)) == 1
    elif rule is ShapeRule.BROADCAST:
        np.broadcast_shapes(*shapes)
    else:
        a, b = (np.zeros(s) for s in shapes)
        assert (a @ b).ndim >= 0  # raises if the shapes do not multiply


@given(st.data())
def test_every_registered_op_gets_valid_cases(data: st.DataObject) -> None:
    registry = get_registry()
    opdef = data.draw(st.sampled_from(list(registry.ops().values())))
    dtype = data.draw(st.sampled_from(opdef.dtypes))
    case = data.draw(cases(opdef, dtype))
    assert len(case.inputs) == opdef.arity
    assert all(x.dtype == np.dtype(dtype) for x in case.inputs)
    if opdef.sample is None:  # a sample function chooses its own shapes
        assert all(math.prod(x.shape) <= MAX_SIZE for x in case.inputs)
    outputs = opdef.outputs(*case.inputs, **case.params)
    assert all(np.isfinite(y.data).all() for y in outputs)


@given(st.data())
def test_op_samplers_get_a_draw_answered_by_hypothesis(data: st.DataObject) -> None:
    draw: Draw = HypothesisDraw(data.draw, Domain(0.5, 1.5), "float32")  # mypy: a Draw
    x = draw.array(draw.shape(min_dims=1, max_dims=2))
    assert x.dtype == np.float32 and ((x >= 0.5) & (x <= 1.5)).all()
    assert draw.choice(["a", "b"]) in ("a", "b")
    assert 2 <= draw.integer(2, 5) <= 5
    assert draw.boolean() in (True, False)


def test_a_strategy_is_built_once_per_declaration_and_shape() -> None:
    # thousands of examples draw from a few dozen declarations: Hypothesis validates each new
    # strategy object on its first draw, so the checker reuses them
    domain = Domain(-1.0, 1.0, kinks=(0.0,))
    assert array_in(domain, (2, 3)) is array_in(Domain(-1.0, 1.0, kinks=(0.0,)), (2, 3))
    assert array_in(domain, (2, 3)) is not array_in(domain, (3, 2))
    assert array_in(domain, (2, 3), "float32") is not array_in(domain, (2, 3))
    assert shapes_for(ShapeRule.BROADCAST, 2) is shapes_for(ShapeRule.BROADCAST, 2)


@given(st.data())
def test_a_choice_among_equal_looking_options_keeps_each_option(data: st.DataObject) -> None:
    # the strategies for a choice are reused by their options' types and reprs: 1, 1.0 and
    # True are equal (and hash alike) in Python, 0.0 and -0.0 too, but are distinct choices
    draw = HypothesisDraw(data.draw, Domain())
    for options in ([1], [1.0], [True], [0.0], [-0.0], [(1, 2)], [(1.0, 2.0)]):
        (expected,) = options
        got = draw.choice(options)
        assert type(got) is type(expected) and repr(got) == repr(expected)
    unhashable = [np.array([1.0, 2.0])]  # not reused: a strategy of its own
    assert draw.choice(unhashable) is unhashable[0]
