"""The engine under random graphs: Hypothesis composes registered ops into DAGs with reused
variables, diamonds and broadcasting, and the end-to-end gradient (first and second order)
must match numerical differentiation. This tests accumulation into reused variables and the
order of the backward pass, not single ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dezero_ext import OpDef, ShapeRule, Tolerance, Variable, get_registry
from dezero_ext.core.variable import Array
from dezero_ext.opdef import Domain
from dezero_ext.testing import GradientCheckError, array_in, check_gradients
from tests import mutants


def _defined_everywhere(op: OpDef) -> bool:
    """Ops that can take any intermediate value: no poles, kinks or restricted inputs."""
    return (
        op.sample is None
        and not op.multi_output
        and op.shape_rule in (ShapeRule.ELEMENTWISE, ShapeRule.BROADCAST)
        and op.arity <= 2
        and "float64" in op.dtypes
        and all(
            not d.exclude
            and not d.kinks
            and not d.positive
            and d.outside == "defined"
            and d.low <= -1.0
            and d.high >= 1.0
            for d in op.domains
        )
    )


POOL = [op for op in get_registry().ops().values() if _defined_everywhere(op)]


@dataclass(frozen=True)
class Step:
    op: OpDef
    args: tuple[int, ...]
    scale: float


@dataclass(frozen=True)
class Program:
    leaves: tuple[Array, ...]
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]

    def __call__(self, *xs: Variable) -> tuple[Variable, ...]:
        nodes: list[Variable] = list(xs)
        for step in self.steps:
            y = step.op.outputs(*(nodes[i] for i in step.args))[0]
            nodes.append(y * step.scale if step.scale != 1.0 else y)
        return tuple(nodes[i] for i in self.outputs)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    n_leaves = draw(st.integers(1, 3))
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n_leaves, max_dims=2, max_side=3)
    ).input_shapes
    leaves = tuple(draw(array_in(Domain(-1.0, 1.0), shape)) for shape in shapes)
    values = [Variable(x) for x in leaves]
    steps: list[Step] = []
    used: set[int] = set()
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(POOL))
        # Later nodes are likelier, and any node may be reused: diamonds and shared leaves.
        args = tuple(
            draw(st.integers(0, len(values) - 1) | st.just(len(values) - 1))
            for _ in range(op.arity)
        )
        if op.shape_rule is ShapeRule.ELEMENTWISE and len({values[i].shape for i in args}) > 1:
            args = (args[0],) * op.arity  # ELEMENTWISE: every input has one shape
        y = op.outputs(*(values[i] for i in args))[0]
        peak = float(np.abs(y.data).max(initial=0.0))
        scale = 1.0 if peak <= 3.0 else 2.0 / peak  # keep values where every op is tame
        values.append(y * scale if scale != 1.0 else y)
        steps.append(Step(op, args, scale))
        used.update(args)
    sinks = [i for i in range(n_leaves, len(values)) if i not in used]
    extra = draw(st.lists(st.sampled_from(sinks), max_size=2)) if sinks else []
    outputs = tuple(sorted({len(values) - 1, *extra}))
    return Program(leaves, tuple(steps), outputs)


def test_the_pool_has_unary_and_binary_ops() -> None:
    assert {op.arity for op in POOL} == {1, 2}


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_graphs_have_correct_gradients(program: Program) -> None:
    check_gradients(program, program.leaves, order=1, tolerance=Tolerance(rtol=1e-4, atol=1e-6))


@settings(max_examples=25, deadline=None)
@given(programs())
def test_random_graphs_have_correct_second_derivatives(program: Program) -> None:
    if any(step.op.order < 2 for step in program.steps):
        return
    check_gradients(program, program.leaves, orders=[2], tolerance=Tolerance(rtol=1e-4, atol=1e-6))


def test_a_reused_variable_accumulates_on_a_diamond() -> None:
    add = get_registry().get("add")
    mul = get_registry().get("mul")
    x = np.array([0.5, -1.0])
    program = Program(
        (x,),
        (Step(mul, (0, 0), 1.0), Step(add, (1, 0), 1.0), Step(mul, (2, 1), 1.0)),
        (3,),
    )
    result = check_gradients(program, [x], order=2, full_jacobian=True)
    assert [r.order for r in result.orders] == [1, 2]


def test_a_wrong_op_inside_a_graph_is_caught() -> None:
    add = get_registry().get("add")
    x = np.array([0.5, -1.0])
    program = Program((x,), (Step(mutants.DOUBLED_SQUARE, (0,), 1.0), Step(add, (1, 0), 1.0)), (2,))
    with pytest.raises(GradientCheckError):
        check_gradients(program, [x])
