"""Optional trailing inputs (``OpDef.optional``): the checker checks an op with and without
them on every example, and a failure names the variant that failed."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Case, Domain, Draw, Function, OpDef, Variable
from dezero_ext.ops import sum_to
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op


class ScaleShift(Function):
    """``x * w (+ b)``, elementwise: the bias is optional."""

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        y: Array = x * w
        return y if b is None else y + b

    def backward(self, gy: Variable) -> tuple[Variable, ...]:
        x, w = self.inputs[:2]
        grads = (self._gx(gy, w), gy * x)
        return (*grads, gy) if len(self.inputs) == 3 else grads

    def _gx(self, gy: Variable, w: Variable) -> Variable:
        return gy * w


class WrongWithoutBias(ScaleShift):
    def _gx(self, gy: Variable, w: Variable) -> Variable:
        return gy * w if len(self.inputs) == 3 else 2 * gy * w  # fault: only without b


class WrongBiasGradient(ScaleShift):
    def backward(self, gy: Variable) -> tuple[Variable, ...]:
        grads = super().backward(gy)
        return (*grads[:2], 3 * sum_to(gy, grads[0].shape)) if len(grads) == 3 else grads


def _sample(draw: Draw) -> Case:
    shape = draw.shape(max_dims=2)
    return Case((draw.array(shape), draw.array(shape), draw.array(shape)))


def _op(name: str, function: type[Function]) -> OpDef:
    return OpDef(
        name, function, arity=3, optional=1, domains=(Domain(-2.0, 2.0),), sample=_sample, order=2
    )


SCALE_SHIFT = _op("scale_shift", ScaleShift)
X, W, B = np.array([0.5, -1.5]), np.array([1.25, 0.75]), np.array([0.1, -0.2])


def test_an_example_with_every_input_is_checked_without_the_optional_ones_too() -> None:
    result = check_gradients(SCALE_SHIFT, [X, W, B], options=CheckOptions(compose=False))
    assert [r.order for r in result.orders] == [1, 2]
    (variant, held) = result.variants
    assert variant.variant == "without optional input 2"
    assert [r.order for r in variant.orders] == [1, 2]
    assert held.variant.startswith("input 0 passed as a constant")  # seed 0: constants.py
    composed = check_gradients(SCALE_SHIFT, [X, W, B]).variants
    assert [v.variant.split(":")[0] for v in composed] == [
        "without optional input 2",
        held.variant.split(":")[0],
        "composition f(a) + f(b), f(c)",  # of the example with every input
    ]


def test_an_example_without_the_optional_input_is_checked_as_given() -> None:
    result = check_gradients(SCALE_SHIFT, [X, W], options=CheckOptions(compose=False))
    assert [v.variant for v in result.variants if "optional" in v.variant] == []


def test_a_fault_only_without_the_optional_input_names_that_variant() -> None:
    op = _op("wrong_without_bias", WrongWithoutBias)
    with pytest.raises(GradientCheckError) as info:
        check_gradients(op, [X, W, B])
    failure = info.value.failure
    assert failure.example.variant == "without optional input 2"
    assert failure.example.input_shapes == ((2,), (2,))
    assert failure.worst is not None and failure.worst.input == 0
    report = str(info.value)
    assert "variant:       without optional input 2" in report
    assert "[x0, x1]" in report  # the reproduce line calls the op without the bias


def test_a_fault_only_with_the_optional_input_is_the_example_itself() -> None:
    op = _op("wrong_bias_gradient", WrongBiasGradient)
    check_gradients(op, [X, W])
    with pytest.raises(GradientCheckError) as info:
        check_gradients(op, [X, W, B])
    assert info.value.failure.example.variant == ""
    assert info.value.failure.worst is not None and info.value.failure.worst.input == 2


def test_check_op_covers_both_variants_on_every_run() -> None:
    assert check_op(SCALE_SHIFT, options=CheckOptions(examples=10)).passed
    result = check_op(
        _op("wrong_without_bias", WrongWithoutBias), options=CheckOptions(examples=10)
    )
    assert result.failure is not None
    assert result.failure.failure.example.variant == "without optional input 2"
