"""The PyTorch adapter checks a ``torch.autograd.Function``'s forward-mode rule (its ``jvp``
staticmethod, run by ``torch.autograd.forward_ad``) against its ``backward`` by the transpose
identity and against central differences: a right pair passes, a wrong ``jvp`` (right
``backward``) and a wrong ``backward`` (right ``jvp``) are each caught and named; a Function
without ``jvp`` has no rule to prove, and ``jvp="native"`` checks PyTorch's own forward AD."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain
from dezero_ext.testing import CheckOptions, check_op

torch: Any = pytest.importorskip("torch")

from dezero_ext.testing.adapters.torch import torch_target  # noqa: E402
from dezero_ext.testing.jvpcheck import JvpCheckError, check_target_jvp  # noqa: E402

X = [np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]])]


class Cube(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here (Any)
    """x**3 with both rules right."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x**3

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 3 * x * x * gy

    @staticmethod
    def jvp(ctx: Any, tx: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 3 * x * x * tx


class WrongJvpCube(Cube):
    @staticmethod
    def jvp(ctx: Any, tx: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 3 * x * tx  # fault: x, not x**2


class WrongBackwardCube(Cube):
    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 2 * x * x * gy  # fault: 2, not 3 (the jvp is right)


class Mul(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here (Any)
    """a * b, two inputs, the jvp's second term dropped: wrong along b only."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        ctx.save_for_forward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        a, b = ctx.saved_tensors
        return gy * b, gy * a

    @staticmethod
    def jvp(ctx: Any, ta: Any, tb: Any) -> Any:
        b = ctx.saved_tensors[1]
        return ta * b  # fault: + a * tb left out


class NoJvpCube(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here (Any)
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 3 * x * x * gy


def test_a_right_rule_passes_in_both_dtypes() -> None:
    target = torch_target(Cube.apply, domains=Domain(-2.0, 2.0))
    assert target.forward_rule is not None and target.forward_rule.jvp == "Cube.jvp"
    for dtype in ("float64", "float32"):
        check_target_jvp(target, [X[0].astype(dtype)], {}, seed=1)
    assert check_op(target, CheckOptions(examples=5)).passed


@pytest.mark.parametrize(
    ("function", "side", "rule"),
    [
        (WrongJvpCube, "jvp", "WrongJvpCube.jvp"),
        (WrongBackwardCube, "vjp", "WrongBackwardCube.backward"),
    ],
)
def test_a_wrong_side_is_caught_and_named(function: Any, side: str, rule: str) -> None:
    target = torch_target(function.apply, domains=Domain(-2.0, 2.0))
    with pytest.raises(JvpCheckError) as caught:
        check_target_jvp(target, X, {}, seed=3)
    assert caught.value.side == side
    wrong = "the JVP is wrong" if side == "jvp" else "the VJP is wrong"
    assert wrong in str(caught.value) and f"cause: {rule}" in str(caught.value)


def test_check_op_fails_a_wrong_jvp_whose_gradients_are_right() -> None:
    # the gradient checks pass (backward is right); only the forward-mode check fails
    result = check_op(torch_target(Mul.apply, domains=Domain(-2.0, 2.0)), CheckOptions(examples=5))
    assert result.verdict == "FAIL", result.report
    assert "forward-mode rule check failed: op 'Mul'" in result.report
    assert "the JVP is wrong" in result.report and "cause: Mul.jvp" in result.report


def test_a_function_without_jvp_has_no_rule_and_native_checks_forward_ad() -> None:
    assert torch_target(NoJvpCube.apply).forward_rule is None
    assert torch_target(Cube.apply, jvp="fallback").forward_rule is None
    native = torch_target(torch.sin, jvp="native", domains=Domain(-2.0, 2.0))
    assert native.forward_rule is not None
    check_target_jvp(native, X, {}, seed=4)
    assert check_op(native, CheckOptions(examples=5)).passed
