"""What a declaration claims beyond gradients: the forward against ``reference=``, the
``error_inputs`` it must refuse, and ``Domain.outside``. Each check fails its mutant (a wrong
forward with a consistent backward, an op that accepts its error input or raises the wrong
thing, a false ``outside`` claim) and passes the correct twin."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, Variable
from dezero_ext.opdef import Case, Declaration, ErrorInput, OpSet
from dezero_ext.ops.helpers import elementwise_reference
from dezero_ext.testing import CheckOptions, check_gradients, check_op
from dezero_ext.testing.adapters._base import declare
from dezero_ext.testing.op_targets import VariableTarget
from dezero_ext_math import cos, sin

FEW = CheckOptions(examples=15, max_order=1)
SIN = elementwise_reference(math.sin)


class TwiceSin(Function):
    """A wrong forward (2 sin x) with the backward that matches it (2 cos x)."""

    def forward(self, x: Array) -> Array:
        return 2 * np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 2 * cos(x) * gy


class Sin(Function):
    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return cos(x) * gy


def _op(name: str, function: type[Function], **fields: object) -> OpDef:
    ops = OpSet()
    ops.declare(name, **fields)(function)  # type: ignore[arg-type]  # fields vary per test
    return ops[name]


def test_a_wrong_forward_with_a_consistent_backward_fails_only_with_a_reference() -> None:
    assert check_op(_op("twice_sin", TwiceSin), FEW).passed  # the gradients agree
    result = check_op(_op("twice_sin", TwiceSin, reference=SIN), FEW)
    assert result.verdict == "FAIL"
    assert "the forward differs from its declared reference: op 'twice_sin'" in result.report
    assert "the reference" in result.report and "check_gradients(" in result.report


def test_the_correct_twin_passes_its_reference_in_every_dtype() -> None:
    op = _op("sin_ok", Sin, reference=SIN, dtypes=("float64", "float32", "float16"))
    result = check_op(op, CheckOptions(examples=30, max_order=1))
    assert result.passed, result.report


def test_a_reference_failure_reproduces_with_check_gradients() -> None:
    op = _op("twice_sin", TwiceSin, reference=SIN)
    with pytest.raises(AssertionError, match="output 0 at \\[1\\]: the op gives"):
        check_gradients(op, [np.array([0.0, 0.5])])


def test_a_broken_reference_is_reported_as_such() -> None:
    def broken(x: Array) -> Array:
        raise RuntimeError("no mpmath")

    with pytest.raises(AssertionError, match="the reference raised RuntimeError: no mpmath"):
        check_gradients(_op("sin_b", Sin, reference=broken), [np.array([0.5])])


class _Fn(VariableTarget):
    """A target from a function of Variables declared through the adapters' ``declare``."""

    def __init__(self, fn: object, spec: Declaration) -> None:
        self.fn, self.spec, self.source = fn, spec, "fn"

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return (self.fn(*xs),)  # type: ignore[operator]  # a function of Variables


def test_an_adapter_declaration_carries_the_reference_and_is_checked() -> None:
    def wrong(x: Variable) -> Variable:
        return sin(x) * 1.001

    def right(x: Variable) -> Variable:
        return sin(x)

    for fn, passes in ((wrong, False), (right, True)):
        target = _Fn(fn, declare(fn, {"reference": SIN}))
        assert target.spec.reference is SIN
        assert check_op(target, FEW).passed is passes


class Checked(Function):
    """sin that refuses a 0-d input, with a clear message."""

    def forward(self, x: Array) -> Array:
        if x.ndim == 0:
            raise ValueError(f"checked: needs at least one dimension, got shape {x.shape}")
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return cos(x) * gy


def _nonzero_dims() -> dict[str, object]:
    def sample(draw: object) -> Case:
        shape = draw.shape(min_dims=1)  # type: ignore[attr-defined]  # a Draw
        return Case((draw.array(shape),))  # type: ignore[attr-defined]

    return {"sample": sample}


@pytest.mark.parametrize(
    ("error", "passes", "says"),
    [
        (ErrorInput((np.float64(1.0),), ValueError, "at least one dimension"), True, ""),
        (ErrorInput((np.ones(3),), ValueError, "dimension"), False, "returned outputs of shapes"),
        (ErrorInput((np.float64(1.0),), TypeError, "dimension"), False, "raised ValueError"),
        (ErrorInput((np.float64(1.0),), ValueError, "axis"), False, "raised ValueError"),
    ],
    ids=["declared", "does-not-raise", "wrong-type", "wrong-message"],
)
def test_error_inputs_must_raise_their_type_and_message(
    error: ErrorInput, passes: bool, says: str
) -> None:
    op = _op("checked", Checked, error_inputs=(error,), **_nonzero_dims())
    result = check_op(op, FEW)
    assert result.passed is passes, result.report
    if not passes:
        assert "declared error input 0 does not hold: op 'checked'" in result.report
        assert says in result.report and "checked(np.array(" in result.report


class Sqrt(Function):
    def forward(self, x: Array) -> Array:
        return np.sqrt(x)

    def backward(self, gy: Variable) -> Variable:
        return gy / (2 * self.output())


class SafeSqrt(Function):
    """sqrt that raises outside its domain instead of NumPy's nan."""

    def forward(self, x: Array) -> Array:
        if (x < 0).any():
            raise ValueError("safe_sqrt: negative input")
        return np.sqrt(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy / (2 * (x**0.5))


@pytest.mark.parametrize(
    ("function", "outside", "passes", "says"),
    [
        (Sqrt, "nan", True, ""),
        (Sqrt, "defined", False, "returned nan"),
        (SafeSqrt, "nan", False, "raised ValueError: safe_sqrt: negative input"),
        (Sin, "nan", False, "no nan in 10 examples"),
        (Sin, "defined", True, ""),
    ],
    ids=["sqrt-nan", "sqrt-defined", "raises", "sin-nan", "sin-defined"],
)
def test_the_outside_claim_is_drawn_and_verified(
    function: type[Function], outside: str, passes: bool, says: str
) -> None:
    domain = Domain(0.5, 4.0, outside=outside)  # type: ignore[arg-type]  # the parameter
    result = check_op(_op("f", function, domains=domain), FEW)
    assert result.passed is passes, result.report
    if not passes:
        assert f"declared outside={outside!r} of input 0 does not hold: op 'f'" in result.report
        assert says in result.report
        assert "print(check_op(" in result.report


def test_a_wrong_error_input_is_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="raises must be an Exception class"):
        ErrorInput((np.ones(2),), int, "x")  # type: ignore[arg-type]  # the mistake
    with pytest.raises(ValueError, match="no regular expression"):
        ErrorInput((np.ones(2),), ValueError, "(")
    with pytest.raises(TypeError, match="error_inputs must be a tuple of ErrorInput"):
        Declaration("f", error_inputs=[ErrorInput((), ValueError, "")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reference must be callable"):
        Declaration("f", reference=1.0)  # type: ignore[arg-type]
