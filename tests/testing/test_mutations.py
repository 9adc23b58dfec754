"""Mutation tests: every deliberately wrong op in ``tests/mutants.py`` is caught by the
checker, and its report points at the fault (the kind, the input, the order, the dtype and
the likely cause). The correct controls pass."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import OpDef
from dezero_ext.testing import (
    CheckOptions,
    GradientCheckError,
    OpCheckResult,
    check_gradients,
    check_op,
)
from dezero_ext.testing.report import Entry, Failure
from tests import mutants


def _failed(opdef: OpDef) -> GradientCheckError:
    result: OpCheckResult = check_op(opdef, options=CheckOptions(examples=60))
    assert not result.passed, f"{opdef.name} passed the check"
    assert result.failure is not None, result.error
    return result.failure


def _worst(failure: Failure) -> Entry:
    assert failure.worst is not None, failure
    return failure.worst


def test_sign_flip_is_named() -> None:
    error = _failed(mutants.FLIPPED_EXP)
    f = error.failure
    assert (f.kind, f.order, _worst(f).input) == ("mismatch", 1, 0)
    analytic, numerical = _worst(f).analytic, _worst(f).numerical
    assert analytic is not None and numerical is not None
    assert analytic == pytest.approx(-numerical, rel=1e-6)
    assert "sign flipped" in f.causes[0]
    report = str(error)
    assert "op 'flipped_exp'" in report and "likely cause:  sign flipped" in report


def test_factor_of_two_is_named() -> None:
    f = _failed(mutants.DOUBLED_SQUARE).failure
    assert f.kind == "mismatch" and _worst(f).input == 0
    assert "constant factor" in f.causes[0] and "off by 2" in f.causes[0]


def test_transposed_gradient_points_at_the_input_and_the_transpose() -> None:
    f = _failed(mutants.TRANSPOSED_MATMUL).failure
    assert f.kind == "mismatch" and _worst(f).input == 0
    assert f.per_input[0].startswith("input 0: WRONG")
    assert f.per_input[1].startswith("input 1: ok")
    assert any("transposed" in cause for cause in f.causes)


def test_gradient_that_ignores_broadcasting_is_a_shape_failure() -> None:
    error = _failed(mutants.UNBROADCAST_ADD)
    f = error.failure
    assert f.kind == "shape"
    assert "sum_to" in f.causes[0]
    # shrunk to the smallest broadcast: one input scalar-like, the other not
    assert f.example.input_shapes[0] != f.example.input_shapes[1]


def test_wrong_second_derivative_only_fails_at_order_two() -> None:
    first = check_op(mutants.BAD_SECOND_SIN, options=CheckOptions(orders=(1,), examples=60))
    assert first.passed
    f = _failed(mutants.BAD_SECOND_SIN).failure
    assert f.order == 2 and f.kind == "mismatch"
    assert f.causes[0].startswith("order 2 only")


def test_float32_only_error_is_named() -> None:
    f = _failed(mutants.FLOAT32_SQUARE).failure
    assert f.example.dtype == "float32"
    assert f.causes[0].startswith("float32 only")
    analytic, numerical = _worst(f).analytic, _worst(f).numerical
    assert analytic is not None and numerical is not None
    assert analytic == pytest.approx(1.025 * numerical, rel=1e-4)


def test_backward_returning_the_wrong_shape_is_named() -> None:
    f = _failed(mutants.SUMMED_GRADIENT).failure
    assert f.kind == "shape"
    assert "input 0" in f.message and "shape ()" in f.message


def test_gradient_computed_in_float64_is_named() -> None:
    # The engine casts the gradient back to float32, but the op computed it in float64.
    f = _failed(mutants.FLOAT64_LEAK).failure
    assert (f.kind, f.example.dtype, _worst(f).input) == ("dtype", "float32", 0)
    assert "float64" in f.message


def test_dropped_input_is_named() -> None:
    f = _failed(mutants.DROPPED_MUL).failure
    assert _worst(f).input == 1
    assert f.per_input[0].startswith("input 0: ok")
    assert "dropped" in f.causes[0]


def test_kink_convention_is_checked() -> None:
    good = check_op(mutants.RELU, options=CheckOptions(examples=60))
    assert good.passed, good.failure
    assert good.kink_hits > 0
    f = _failed(mutants.RELU_RIGHT_AT_ZERO).failure
    assert f.kind == "kink" and f.kink_near
    assert "kink_rule='left'" in f.kink_detail
    assert _worst(f).analytic == pytest.approx(1.0)  # relu'(0) returned as 1, the right derivative
    assert "left 0" in f.kink_detail


def test_controls_pass() -> None:
    result = check_op(mutants.COS, options=CheckOptions(examples=60))
    assert result.passed, result.failure
    assert result.examples >= 3 * 60


def test_report_is_readable() -> None:
    report = str(_failed(mutants.DOUBLED_SQUARE))
    lines = report.splitlines()
    assert lines[0] == "gradient mismatch: op 'doubled_square', order 1, float64"
    for label in ("input shapes:", "worst element:", "analytic", "numerical", "error", "step:"):
        assert any(label in line for line in lines), label
    assert "kink near:     no" in report
    assert all(len(line) <= 110 for line in lines)


def test_tie_conventions_pass_and_a_double_counted_tie_fails() -> None:
    for op in (mutants.MAX_FIRST, mutants.MAX_SPLIT):
        result = check_op(op, options=CheckOptions(examples=60))
        assert result.passed, result.failure
        assert result.kink_hits > 0, op.name
    f = _failed(mutants.MAX_EVERY_TIED).failure
    assert f.kind == "kink"
    assert "ties" in f.causes[0] and "ties='split'" in f.kink_detail


def test_a_dtype_fault_is_named_first() -> None:
    f = _failed(mutants.FLOAT64_LEAK).failure
    assert f.causes[0].startswith("dtype:")


def test_state_shared_between_instances_fails_a_composition_named_as_such() -> None:
    x = np.array([0.5, -1.0, 1.5])
    check_gradients(
        mutants.SHARED_STATE_SQUARE, [x], options=CheckOptions(compose=False)
    )  # one call is right
    with pytest.raises(GradientCheckError) as info:
        check_gradients(mutants.SHARED_STATE_SQUARE, [x])
    assert info.value.failure.example.variant.startswith("composition f(a) + f(b), f(c)")
    error = _failed(mutants.SHARED_STATE_SQUARE)  # shrunk: to a scalar, where f(f(x)) fails
    f = error.failure
    assert f.kind == "mismatch" and f.order == 1
    assert f.example.variant.startswith("composition f(")
    assert f.causes[0].startswith("state:")
    report = str(error)
    assert "variant:       composition f(" in report
    assert "keeps state between instances or calls" in report
    # an op outside the registry: its declaration is in the snippet (test_reproduce.py)
    assert "check_gradients(OpDef('shared_state_square', tests.mutants.SharedStateSquare)" in report


def test_an_op_that_writes_into_its_input_is_named() -> None:
    f = _failed(mutants.IN_PLACE_EXP).failure
    assert (f.kind, f.order, _worst(f).input) == ("inplace", 1, 0)
    assert f.message == "forward modified input 0 in place"
    assert f.causes[0].startswith("in place:")


def test_a_backward_that_writes_into_its_gradient_argument_is_named() -> None:
    error = _failed(mutants.IN_PLACE_GRAD_TRIPLED)
    assert error.failure.kind == "inplace"
    assert "backward modified the gradient it received for output 0" in error.failure.message
    assert str(error).startswith(
        "the op modified an array it was given: op 'in_place_grad_tripled'"
    )


def test_every_composition_runs_on_a_correct_op() -> None:
    result = check_gradients(
        mutants.COS, [np.array([0.5, -1.0])], options=CheckOptions(orders=(1,))
    )
    names = [v.variant.split(":")[0] for v in result.variants]
    assert names == ["composition f(a) + f(b), f(c)", "composition f(f(x))"]
    binary = check_gradients(
        mutants.DROPPED_MUL, [np.array([0.5]), np.array([1.5])], options=CheckOptions(orders=(2,))
    )
    assert [v for v in binary.variants if v.composed] == []  # compositions run with order 1
