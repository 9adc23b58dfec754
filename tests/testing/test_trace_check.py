"""The checker proves traced mode (``testing/tracecheck.py``, ``dezero-ext check --traced``):
a right op passes; an op whose ``forward_scalar`` computes otherwise than ``forward`` on 0-d
values, or whose ``forward`` keeps state a replay does not refresh, is caught on the example;
``check_op`` runs the check per drawn example when ``CheckOptions(traced=True)``."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, Variable
from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing.tracecheck import TracedCheckError, check_traced


class Cube(Function):
    def forward(self, x: Array) -> Array:
        return np.power(x, 3, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return np.power(x, 3)  # the ufunc forward calls (a scalar's ** may round otherwise)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * x * gy

    def backward_array(self, gy: Array) -> Array:
        x = self.input_array()
        result: Array = 3 * x * x * gy
        return result


class WrongScalarCube(Cube):
    def forward_scalar(self, x: Array) -> Array:
        return np.power(x, 3) * (1 + 2**-40)  # fault: only on 0-d values, only in a replay


class StaleCube(Cube):
    saves_inputs = False

    def forward(self, x: Array) -> Array:
        if not hasattr(self, "x"):  # fault: keeps the first call's input for backward
            self.x = x.copy()
        return np.power(x, 3, out=...)

    def backward_array(self, gy: Array) -> Array:
        result: Array = 3 * self.x * self.x * gy
        return result


def _op(function: type[Function]) -> OpDef:
    return OpDef(function.__name__.lower(), function, domains=(Domain(-2.0, 2.0),))


def test_a_right_op_passes_at_every_shape_and_dtype() -> None:
    for dtype in ("float64", "float32", "float16"):
        for x in (np.array(0.75), np.array([0.5, -1.25, 2.0])):
            check_traced(_op(Cube), [x.astype(dtype)], {})


def test_a_wrong_forward_scalar_is_caught_on_0d_values() -> None:
    check_traced(_op(WrongScalarCube), [np.array([0.5, -1.25])], {})  # arrays: not used
    with pytest.raises(
        TracedCheckError,
        match="wrongscalarcube: traced and eager differ on the "
        "recording call.*the output: largest difference",
    ):
        check_traced(_op(WrongScalarCube), [np.array(0.75)], {})


def test_state_a_replay_does_not_refresh_is_caught() -> None:
    with pytest.raises(TracedCheckError, match="other values.*input 0's gradient"):
        check_traced(_op(StaleCube), [np.array([0.5, -1.25, 2.0])], {})


def test_check_op_runs_it_per_example_when_asked() -> None:
    options = CheckOptions(examples=20, traced=True)
    assert check_op(_op(Cube), options).passed
    result = check_op(_op(StaleCube), options)
    assert result.verdict == "FAIL" and "traced and eager differ" in result.report
    assert check_op(_op(StaleCube), CheckOptions(examples=20)).passed  # eager: a right op
