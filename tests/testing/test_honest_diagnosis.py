"""Honest diagnosis: a cause is named only on the evidence for it, and says what it rests on;
the Taylor remainder test (a step-free second opinion) is printed with every gradient mismatch
and reads rate ~1 for a wrong gradient, ~2 for a right one."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, Variable
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients
from dezero_ext.testing.numerical import F64
from dezero_ext.testing.taylor import taylor_test
from dezero_ext_math import cos, tanh

C = math.sqrt(2 / math.pi)


class NegativeOnlyWrong(Function):
    """sin whose gradient is 9x too large where x < 0, and right elsewhere."""

    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        scale = Variable(np.where(x.data < 0, 9.0, 1.0).astype(x.dtype))
        return gy * cos(x) * scale


class TripledSin(Function):
    """sin whose gradient is 3x too large everywhere."""

    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * cos(x) * 3


class TanhGelu(Function):
    """GELU (tanh approximation) whose backward rounds sqrt(2/pi) to 0.7979: off by ~4e-5
    relative, about twice the float64 tolerance."""

    def forward(self, x: Array) -> Array:
        y: Array = 0.5 * x * (1 + np.tanh(C * (x + 0.044715 * x**3)))
        return y

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        c = 0.7979  # the bug
        t = tanh(c * (x + 0.044715 * x**3))
        return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2))


def _report(op: OpDef, x: Array) -> tuple[GradientCheckError, str]:
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(op, [x], options=CheckOptions(orders=(1,), compose=False))
    return raised.value, " ".join(str(raised.value).split())


def _rates(report: str) -> list[float]:
    found = re.search(r"taylor test: rates ([\d., -]+) for h", report)
    assert found, report
    return [float(r) for r in found.group(1).split(", ")]


def test_a_gradient_wrong_only_below_zero_is_not_called_a_constant_factor() -> None:
    op = OpDef("negative_only_wrong", NegativeOnlyWrong, domains=(Domain(-2, 2),))
    report = _report(op, np.array(-0.7))[1]
    assert "constant factor" not in report
    assert (
        "wrong formula: the gradient of input 0 differs from the numerical derivative on 1 "
        "of 1 entries" in report
    )
    # the other inputs drawn from the domain show where it is wrong: about half of them
    found = re.search(
        r"in part of the domain: the gradient of input 0 is wrong at (\d) of (\d)", report
    )
    assert found, report
    assert 0 < int(found.group(1)) < int(found.group(2))
    assert all(abs(rate - 1) < 0.1 for rate in _rates(report))
    assert "raise its Tolerance" not in report


def test_a_constant_factor_is_named_with_the_entries_and_inputs_it_rests_on() -> None:
    op = OpDef("tripled_sin", TripledSin, domains=(Domain(-2, 2),))
    error = _report(op, np.array(0.4))[0]
    cause = error.failure.causes[0]
    assert re.match(
        r"constant factor: the gradient of input 0 is 3 x the numerical one on all (\d+) "
        r"entries where the numerical one is not ~0, at (\d+) inputs \(this one and \d+ drawn",
        cause,
    ), cause
    found = re.search(r"on all (\d+) entries", cause)
    assert found and int(found.group(1)) >= 8
    # an array example has its own entries to rest on
    cause = _report(op, np.linspace(-1.5, 1.5, 12))[0].failure.causes[0]
    assert "3 x the numerical one on all" in cause


def test_a_rounded_constant_is_never_blamed_on_the_tolerance() -> None:
    op = OpDef("tanh_gelu", TanhGelu, domains=(Domain(-3, 3),))
    report = _report(op, np.array(-1.0))[1]
    assert "Tolerance" not in report and "precision" not in report
    assert "wrong formula" in report and "the Taylor test confirms it without a step" in report
    assert all(abs(rate - 1) < 0.1 for rate in _rates(report))


def test_the_taylor_test_reads_rate_1_for_a_wrong_gradient_and_2_for_a_right_one() -> None:
    """On a scalar projection <u, f(x)> of a vector function, along a random direction."""
    rng = np.random.default_rng(3)
    x = [rng.uniform(-2, 2, size=6)]
    v = [rng.uniform(-1, 1, size=6)]
    u = rng.uniform(-1, 1, size=6)

    def phi(xs: Sequence[F64]) -> float:
        return float(np.sum(u * np.tanh(xs[0])))

    gradient = u * (1 - np.tanh(x[0]) ** 2)
    right = taylor_test(phi, x, v, float(gradient @ v[0]))
    assert right.order == 2 and all(abs(r - 2) < 0.05 for r in right.rates)
    for wrong in (gradient * 1.0001, -gradient, gradient * 9, np.roll(gradient, 1)):
        result = taylor_test(phi, x, v, float(wrong @ v[0]))
        assert result.order == 1 and all(abs(r - 1) < 0.05 for r in result.rates), result

    # linear along v: a right gradient leaves only rounding; a wrong one is first order
    def line(xs: Sequence[F64]) -> float:
        return float(np.sum(u * xs[0]) * 3)

    assert taylor_test(line, x, v, float(3 * u @ v[0])).exact
    assert taylor_test(line, x, v, float(3.3 * u @ v[0])).order == 1


def test_a_float32_gradient_right_to_its_rounding_is_not_called_wrong() -> None:
    rng = np.random.default_rng(4)
    x = [rng.uniform(-2, 2, size=8)]
    v = [rng.uniform(-1, 1, size=8)]
    u = rng.uniform(-1, 1, size=8)
    gradient = (u * (1 - np.tanh(x[0]) ** 2)).astype(np.float32).astype(np.float64)
    eps32 = float(np.finfo(np.float32).eps)
    result = taylor_test(
        lambda xs: float(np.sum(u * np.tanh(xs[0]))),
        x,
        v,
        float(gradient @ v[0]),
        slope_rounding=eps32 * float(np.abs(gradient) @ np.abs(v[0])),
    )
    assert result.order == 2, result


class BandWrong(Function):
    """sin whose gradient is 2x too large for x in (0.8, 1.0) only: right at x = 2, wrong at
    sin(2) = 0.909, where f(f(x)) evaluates it."""

    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        band = (x.data > 0.8) & (x.data < 1.0)
        return gy * cos(x) * Variable(np.where(band, 2.0, 1.0).astype(x.dtype))


def test_a_composition_reaching_a_wrong_input_is_not_called_state() -> None:
    op = OpDef("band_wrong", BandWrong, domains=(Domain(-2, 2),))
    x = np.array(2.0)
    assert check_gradients(op, [x], options=CheckOptions(compose=False)).orders
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(op, [x])
    failure = raised.value.failure
    assert failure.example.composed and "f(f(x))" in failure.example.variant
    assert failure.causes[0].startswith("not state: the op alone is wrong at its own output")
    assert not any(c.startswith("state:") for c in failure.causes)
