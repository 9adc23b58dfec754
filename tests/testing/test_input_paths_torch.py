"""The constant-input path through the adapters (issue 19, item 3): the same ``HoldsConstants``
protocol holds an input as PyTorch's tensor that does not require grad, as a JAX array closed
over, as DeZero's plain array. A ``torch.autograd.Function`` that reads ``ctx.needs_input_grad``
the wrong way round fails; its twin passes. (DeZero's: test_input_paths_dezero.py. Named
``*_torch.py`` so that CI's step with the frameworks runs it; JAX's one test is here too.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain, ShapeRule
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op
from dezero_ext.testing.protocol import HoldsConstants

X = np.array([0.5, -1.5, 2.0])
Y = np.array([1.25, 0.75, -0.5])


def _torch() -> Any:
    return pytest.importorskip("torch")


def _mul_functions() -> tuple[Any, Any]:
    torch = _torch()

    class Mul(torch.autograd.Function):  # type: ignore[misc,name-defined]  # torch: untyped (Any)
        @staticmethod
        def forward(ctx: Any, a: Any, b: Any) -> Any:
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            a, b = ctx.saved_tensors
            need_a, need_b = ctx.needs_input_grad
            return (g * b if need_a else None), (g * a if need_b else None)

    class SwappedWhenConstant(Mul):
        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            a, b = ctx.saved_tensors
            need_a, need_b = ctx.needs_input_grad
            if need_a and need_b:
                return g * b, g * a
            return (g * a if need_a else None), (g * b if need_b else None)  # the fault

    return Mul, SwappedWhenConstant


def test_torch_constants_do_not_require_grad() -> None:
    _torch()
    from dezero_ext.testing.adapters.torch import torch_target

    seen: list[tuple[bool, bool]] = []

    def mul(a: Any, b: Any) -> Any:
        seen.append((a.requires_grad, b.requires_grad))
        return a * b

    target = torch_target(mul, arity=2)
    assert isinstance(target, HoldsConstants)
    check_gradients(target, [X, Y], options=CheckOptions(seed=1, orders=(1,)))
    assert (True, False) in seen and (True, True) in seen


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_function_wrong_only_on_the_constant_path_fails(seed: int) -> None:
    from dezero_ext.testing.adapters.torch import torch_target

    mul, swapped = _mul_functions()
    check_gradients(torch_target(mul.apply, arity=2), [X, Y], options=CheckOptions(seed=seed))
    with pytest.raises(GradientCheckError) as info:
        check_gradients(
            torch_target(swapped.apply, arity=2), [X, Y], options=CheckOptions(seed=seed)
        )
    assert f"input {seed} passed as a constant" in info.value.failure.example.variant
    assert ".holding([" in str(info.value)  # the snippet holds the same input


def test_torch_property_test_fails_the_mutant_and_passes_the_twin() -> None:
    from dezero_ext.testing.adapters.torch import torch_target

    mul, swapped = _mul_functions()
    declared: dict[str, Any] = {"arity": 2, "shape_rule": ShapeRule.ELEMENTWISE}
    good = check_op(torch_target(mul.apply, **declared), CheckOptions(examples=10))
    assert good.verdict == "ok", good.report
    bad = check_op(torch_target(swapped.apply, **declared), CheckOptions(examples=10))
    assert bad.verdict == "FAIL" and "passed as a constant" in bad.report


def test_jax_holds_a_constant_closed_over() -> None:
    jax = pytest.importorskip("jax")
    from dezero_ext.testing.adapters.jax import jax_target

    target = jax_target(jax.numpy.multiply, arity=2, domains=Domain(-2.0, 2.0), order=2)
    for seed in (0, 1):
        result = check_gradients(target, [X, Y], options=CheckOptions(seed=seed))
        held = [v for v in result.variants if "constant" in v.variant]
        assert len(held) == 1 and len(held[0].orders) == 2
