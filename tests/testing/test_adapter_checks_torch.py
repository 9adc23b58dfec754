"""What the PyTorch adapter checks besides one call's gradient (skipped without torch): the
composition checks the registered ops get (a ``Function`` that keeps state on its class passes
one call but fails two calls in one graph), the mutation check (a ``Function`` that writes into
its input fails, as ``gradcheck`` fails it), ``ndim`` for a 2-D-only matmul, ``arity``
read off the signature or refused for ``*args``, and ``keywords`` (``axis`` -> ``dim``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain, ShapeRule
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op

torch: Any = pytest.importorskip("torch")

from dezero_ext.testing.adapters.torch import torch_target  # noqa: E402

X = [np.array([0.3, -1.2, 2.0, 0.7])]


class CachedSin(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here (Any)
    """sin, whose forward keeps its input on the class: right for one call, but the second
    call in a graph overwrites what the first one's backward reads."""

    cached: Any = None

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        CachedSin.cached = x.detach().clone()
        return torch.sin(x)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        return grad * torch.cos(CachedSin.cached)


class Sin(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here (Any)
    """The correct twin: what backward needs is saved on ``ctx``."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        (x,) = ctx.saved_tensors
        return grad * torch.cos(x)


class HalvingSin(Sin):
    """sin with a right gradient that halves its input in place (the caller's tensor)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x.clone())
        y = torch.sin(x)
        x.mul_(0.5)
        return y


def test_a_function_keeping_state_on_its_class_fails_the_composition_check() -> None:
    target = torch_target(CachedSin.apply, domains=Domain(-3, 3))
    # one call is right, so a check without compositions passes it
    assert check_gradients(target, X, options=CheckOptions(compose=False)).orders
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(target, X)
    failure = raised.value.failure
    assert failure.kind == "mismatch" and failure.example.composed
    assert "two instances in one graph" in failure.example.variant
    assert "state:" in str(raised.value)
    result = check_op(target, CheckOptions(examples=10))
    assert not result.passed and result.failure is not None
    assert result.failure.failure.example.composed


def test_its_correct_twin_passes_every_composition() -> None:
    result = check_gradients(torch_target(Sin.apply, domains=Domain(-3, 3)), X)
    variants = [v.variant for v in result.variants]
    assert len(variants) == 2, variants  # f(a) + f(b), f(c) and f(f(x)): sin(x) lies in (-3, 3)
    assert check_op(
        torch_target(Sin.apply, domains=Domain(-3, 3)), CheckOptions(examples=10)
    ).passed


def test_a_binary_function_is_checked_on_one_input_given_twice() -> None:
    result = check_gradients(torch_target(torch.mul, arity=2), [X[0], X[0][::-1].copy()])
    assert any("f(x, x)" in v.variant for v in result.variants)


def test_a_function_writing_into_its_input_fails_as_gradcheck_fails_it() -> None:
    x = torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(HalvingSin.apply, (x,))
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(torch_target(HalvingSin.apply, domains=Domain(-3, 3)), X)
    failure = raised.value.failure
    assert failure.kind == "inplace" and failure.worst is not None and failure.worst.input == 0
    report = " ".join(str(raised.value).split())
    assert "the op modified an array it was given" in report
    assert "the call modified input 0 in place" in report
    assert "in place: the function writes into an input PyTorch gives it" in report
    result = check_op(torch_target(HalvingSin.apply, domains=Domain(-3, 3)))
    assert result.failure is not None and result.failure.failure.kind == "inplace"


def test_a_2d_only_matmul_passes_when_it_declares_ndim_2() -> None:
    # torch.mm takes matrices only: drawn as ShapeRule.MATMUL, a 1-D operand makes it raise
    plain = check_op(torch_target(torch.mm, arity=2, shape_rule=ShapeRule.MATMUL))
    assert plain.failure is not None and plain.failure.failure.kind == "error"
    mm = torch_target(torch.mm, arity=2, shape_rule=ShapeRule.MATMUL, ndim=(2,), order=2)
    result = check_op(mm, CheckOptions(examples=20))
    assert result.passed, result.failure or result.error
    assert "ndim=(2,)" in mm.source


def test_arity_is_read_off_the_signature_or_refused_for_star_args() -> None:
    def scaled(x: Any, w: Any, scale: float = 2.0) -> Any:
        return x * w * scale

    def summed(*xs: Any) -> Any:
        return sum(xs)

    assert torch_target(scaled).spec.arity == 2
    with pytest.raises(TypeError, match=r"summed\(\*xs\) takes \*xs: .* give it, e\.g\. arity="):
        torch_target(summed)
    assert torch_target(summed, arity=3).spec.arity == 3


def test_a_reduction_gets_axis_and_keepdims_under_the_functions_names() -> None:
    def mean(x: Any, *, dim: Any, keepdim: bool) -> Any:  # torch's names only
        return torch.mean(x, dim=dim, keepdim=keepdim)

    unmapped = check_op(torch_target(mean, shape_rule=ShapeRule.REDUCTION))
    assert unmapped.failure is not None and "unexpected keyword argument 'axis'" in str(
        unmapped.failure
    )
    target = torch_target(
        mean, shape_rule=ShapeRule.REDUCTION, keywords={"axis": "dim", "keepdims": "keepdim"}
    )
    result = check_op(target, CheckOptions(examples=20))
    assert result.passed, result.failure or result.error
    assert "keywords={'axis': 'dim', 'keepdims': 'keepdim'}" in target.source
    with pytest.raises(TypeError, match="keywords must map a drawn parameter"):
        torch_target(mean, keywords={"axis": 1})  # type: ignore[dict-item]  # the mistake is the point


def test_the_rounded_gelu_constant_gets_rate_1_and_no_tolerance_advice() -> None:
    """docs/frameworks.md's TanhGelu: off by ~4e-5 relative, twice the allowed error at
    x = -1; the report once suggested raising the tolerance. The Taylor test reads rate 1."""
    from tests.testing.test_adapter_torch import TanhGelu

    with pytest.raises(GradientCheckError) as raised:
        check_gradients(torch_target(TanhGelu.apply), [np.array(-1.0)])
    report = " ".join(str(raised.value).split())
    assert "Tolerance" not in report and "precision" not in report
    assert "taylor test: rates 1.00, 1.00" in report
    assert "the Taylor test confirms it without a step" in report
