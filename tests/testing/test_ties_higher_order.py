"""Ties across inputs at higher order (issue 19, item 5): a tie declared by ``ties=`` is a kink
of the first derivative too, so the order-2 check must not fail there. A correct
``maximum`` with ``ties="split"`` and no hand-written sampler passes the default run at
order 2, exact ties forced; a wrong one still fails."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, ShapeRule, Variable
from dezero_ext.ops import exp, sum_to
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op
from dezero_ext.testing.runner import aim_at_kinks


class SplitMaximum(Function):
    """``maximum(x0, x1)``, a tie splitting the gradient (as PyTorch's); differentiable to
    any order (the share is a constant of the graph)."""

    def forward(self, x0: Array, x1: Array) -> Array:
        y: Array = np.maximum(x0, x1)
        share = np.where(x0 > x1, 1.0, np.where(x0 == x1, 0.5, 0.0))
        self.share = np.asarray(share, dtype=y.dtype)
        self.shapes = (x0.shape, x1.shape)
        return y

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        g0 = gy * Variable(self.share.astype(gy.dtype))
        return sum_to(g0, self.shapes[0]), sum_to(gy - g0, self.shapes[1])


class WrongSecondMaximum(SplitMaximum):
    """Right at order 1, wrong at order 2: the gradient carries a factor ``exp(x0 - x0)``
    whose ``x0`` is partly a constant (the ``.data`` mistake), so its derivative is not 0."""

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0 = self.inputs[0]
        one = exp(x0 - Variable(x0.data))
        g0 = gy * Variable(self.share.astype(gy.dtype)) * one
        return sum_to(g0, self.shapes[0]), sum_to(gy - g0, self.shapes[1])


def _maximum(function: type[Function], name: str) -> OpDef:
    return OpDef(
        name,
        function,
        arity=2,
        domains=(Domain(-2.0, 2.0),),
        shape_rule=ShapeRule.BROADCAST,
        order=2,
        ties="split",
    )


SPLIT_MAXIMUM = _maximum(SplitMaximum, "split_maximum")
WRONG_SECOND = _maximum(WrongSecondMaximum, "wrong_second_maximum")


def test_an_exact_tie_passes_at_order_two() -> None:
    x = np.array([0.5, -1.0, 1.25])
    y = np.array([0.5, 0.25, 1.25])  # ties at 0 and 2
    result = check_gradients(SPLIT_MAXIMUM, [x, y], options=CheckOptions(orders=(2,)))
    assert [r.order for r in result.orders] == [2]
    assert result.orders[0].full_jacobian  # the kink along the direction: entry by entry


def test_an_all_tied_0d_pair_passes_at_orders_one_and_two() -> None:
    x = np.array(0.75)
    check_gradients(SPLIT_MAXIMUM, [x, x.copy()], options=CheckOptions(orders=(1, 2)))


def test_the_default_run_passes_at_order_two_with_no_sampler() -> None:
    result = check_op(SPLIT_MAXIMUM)  # orders 1 and 2, 25 examples each, the extreme shapes
    assert result.verdict == "ok", result.report
    assert result.orders == (1, 2)
    only_second = check_op(SPLIT_MAXIMUM, CheckOptions(orders=(2,)))
    assert only_second.verdict == "ok", only_second.report
    assert only_second.kink_hits > 0  # exact ties were met at order 2 and checked


def test_aiming_ties_the_inputs_of_a_ties_op() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dezero_ext.testing.strategies import draw_case

    tied: list[bool] = []

    @settings(max_examples=20, database=None, derandomize=True)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        case = aim_at_kinks(data.draw, SPLIT_MAXIMUM, draw_case(data.draw, SPLIT_MAXIMUM))
        a, b = np.broadcast_arrays(*case.inputs)
        tied.append(bool(np.any(a == b)))

    run()
    assert all(tied)


def test_a_wrong_second_derivative_still_fails() -> None:
    result = check_op(WRONG_SECOND, CheckOptions(orders=(2,)))
    assert result.verdict == "FAIL", result.report
    failure = result.failure
    assert failure is not None and failure.failure.order == 2


def test_a_wrong_second_derivative_fails_on_a_tie_too() -> None:
    # between the one-sided derivatives (both 0 here) is still a check at the tie
    x = np.array([0.5, 1.0])
    with pytest.raises(GradientCheckError, match="order 2"):
        check_gradients(WRONG_SECOND, [x, x.copy()], options=CheckOptions(orders=(2,)))


def test_ties_are_aimed_at_at_order_two(monkeypatch: pytest.MonkeyPatch) -> None:
    import dezero_ext.testing.runner as runner

    calls: list[int] = []
    original = runner.aim_at_kinks

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]  # the runner's own call

    monkeypatch.setattr(runner, "aim_at_kinks", counted)
    assert check_op(SPLIT_MAXIMUM, CheckOptions(orders=(2,), examples=15)).verdict == "ok"
    assert calls  # about a third of the examples
