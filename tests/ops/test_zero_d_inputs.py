"""0-d inputs: a ufunc on 0-d arrays gives NumPy scalars, and a first-order pass hands
``backward_array`` 0-d gradients and inputs as NumPy scalars (the plugin guide says so).
Every op must work there: forward, the array rule and the Variable rule, with one answer."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from dezero_ext import OpDef, ShapeRule, Variable, get_registry
from dezero_ext_math import maximum, minimum
from tests.numpy_draw import NumpyDraw

_SHAPE_RULES = (ShapeRule.ELEMENTWISE, ShapeRule.BROADCAST, ShapeRule.REDUCTION)


def _needs_no_parameters(op: OpDef) -> bool:
    init = inspect.signature(op.function.__init__)
    return all(
        p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in list(init.parameters.values())[1:]
    )


def _zero_d_ops() -> list[str]:
    ops = get_registry().ops().values()
    chosen = [op for op in ops if op.shape_rule in _SHAPE_RULES and _needs_no_parameters(op)]
    return sorted(op.name for op in chosen)


def _point(op: OpDef, index: int) -> float:
    """A value well inside input ``index``'s domain, off its kinks and excluded points."""
    domain = op.domains[index] if op.domains else None
    if domain is None:
        return 0.7 + 0.1 * index
    return domain.lower + (domain.high - domain.lower) * (0.61 + 0.07 * index)


def _gradients(
    op: OpDef, inputs: list[np.ndarray] | None = None, params: dict[str, object] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Both passes' gradients of one graph (a random op, dropout, draws its mask once)."""
    arrays = inputs if inputs is not None else [np.array(_point(op, i)) for i in range(op.arity)]
    xs = [Variable(a) for a in arrays]
    y = op(*xs, **(params or {}))
    out = y[0] if isinstance(y, tuple) else y
    passes = []
    for create_graph in (False, True):
        out.backward(create_graph=create_graph)
        grads = []
        for x in xs:
            assert x.grad is not None, f"{op.name}: no gradient for a 0-d input"
            assert x.grad.shape == (), f"{op.name}: a gradient of shape {x.grad.shape} for 0-d"
            grads.append(np.asarray(x.grad.data))
            x.cleargrad()
        passes.append(grads)
    return passes[0], passes[1]


def test_the_zero_d_op_list_covers_the_elementwise_ops() -> None:
    names = _zero_d_ops()
    assert {"maximum", "minimum", "exp", "add", "sum", "sin"} <= set(names)


@pytest.mark.parametrize("name", _zero_d_ops())
def test_every_op_runs_on_zero_d_inputs_or_refuses_them_by_name(name: str) -> None:
    op = get_registry().get(name)
    try:
        fast, recorded = _gradients(op)
    except (ValueError, TypeError) as exc:  # a refusal must name the op (conv2d needs 4-D)
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert refusal.startswith(f"{name}:"), f"{name} on 0-d inputs: {refusal}"
        return
    for a, b in zip(fast, recorded, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f"{name} at 0-d")


class _ZeroDDraw(NumpyDraw):
    """Draws an op's sampler answers with the fewest dimensions it allows: 0-d when it may."""

    def shape(
        self, *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
    ) -> tuple[int, ...]:
        return tuple(self.integer(min_side, max_side) for _ in range(min_dims))


def _sampled_ops() -> list[str]:
    return sorted(op.name for op in get_registry().ops().values() if op.sample is not None)


@pytest.mark.parametrize("name", _sampled_ops())
def test_every_sampled_op_runs_where_its_sampler_draws_zero_d_inputs(name: str) -> None:
    op = get_registry().get(name)
    ran = 0
    for seed in range(6):
        case = op.sample(_ZeroDDraw(seed, op.domains[0] if op.domains else None))  # type: ignore[misc]  # sample is set: _sampled_ops
        if any(a.ndim for a in case.inputs):
            continue  # the op needs dimensions (conv2d), or its sampler gave some anyway
        fast, recorded = _gradients(op, list(case.inputs), dict(case.params))
        for a, b in zip(fast, recorded, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f"{name} at 0-d, seed {seed}")
        ran += 1
    if not ran:
        pytest.skip(f"{name}'s sampler draws no 0-d case")


@pytest.mark.parametrize(("select", "win"), [(maximum, (0.0, 1.0)), (minimum, (1.0, 0.0))])
@pytest.mark.parametrize("create_graph", [False, True])
def test_maximum_and_minimum_of_two_zero_d_variables(
    select: object, win: tuple[float, float], create_graph: bool
) -> None:
    a, b = Variable(np.array(1.0)), Variable(np.array(2.0))
    y = select(a, b)  # type: ignore[operator]  # one of the two functions
    assert isinstance(y.data, np.ndarray) and y.shape == ()
    y.backward(create_graph=create_graph)
    assert a.grad is not None and b.grad is not None
    assert (float(a.grad.data), float(b.grad.data)) == win


def test_a_zero_d_tie_splits_the_gradient() -> None:
    a, b = Variable(np.array(1.5)), Variable(np.array(1.5))
    maximum(a, b).backward()
    assert a.grad is not None and b.grad is not None
    assert (float(a.grad.data), float(b.grad.data)) == (0.5, 0.5)


def test_a_zero_d_input_broadcast_against_a_vector() -> None:
    a, b = Variable(np.array(0.0)), Variable(np.array([-1.0, 0.0, 2.0]))
    maximum(a, b).sum().backward()
    assert a.grad is not None and b.grad is not None
    assert float(a.grad.data) == 1.5  # wins once, ties once
    np.testing.assert_array_equal(b.grad.data, [0.0, 0.5, 1.0])
