"""The DeZero adapter on DeZero 0.0.13 (skipped without it): the checks find DeZero's known
bugs unaided — batch_nrom's second derivative, conv2d/deconv2d at order 2 (and, once the first
bug is fixed, the wrong formula behind it), max pooling at order 3 inside a network, sum over a
tuple of axes — and pass DeZero's correct functions; its NumPy 2 faults are the target's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op

if importlib.util.find_spec("dezero") is None:  # not importorskip: DeZero needs its shim
    pytest.skip(
        "DeZero is not installed: pip install 'dezero-ext[dezero]'", allow_module_level=True
    )

from dezero_ext.testing.adapters.dezero import (
    DezeroTarget,
    dezero_target,
    import_dezero,
)
from tests.dezero_suite import CORRECT, FINDINGS, FLOAT32

dezero: Any = import_dezero()


def _flat(report: object) -> str:
    return " ".join(str(report).split())  # the report wraps long lines


def test_import_dezero_leaves_numpy_as_it_was() -> None:
    code = (
        "import numpy as np\n"
        "from dezero_ext.testing.adapters.dezero import import_dezero\n"
        "import_dezero()\n"
        "print(hasattr(np, 'int'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert not hasattr(np, "int")


@pytest.mark.parametrize("target", CORRECT, ids=[t.spec.name for t in CORRECT])
def test_dezero_correct_functions_pass_to_their_order(target: DezeroTarget) -> None:
    result = check_op(target, options=CheckOptions(examples=10))
    assert result.passed, result.failure or result.error
    assert result.orders == tuple(range(1, target.spec.order + 1))


def _failure(name: str, options: CheckOptions | None = None) -> tuple[Any, str]:
    result = check_op(FINDINGS[name], options)
    assert result.failure is not None, f"{name}: no failure found"
    return result.failure.failure, _flat(result.failure)


def test_batch_norm_has_a_wrong_second_derivative_in_x() -> None:
    failure, report = _failure("batch_norm")
    assert (failure.kind, failure.order) == ("mismatch", 2)
    assert failure.worst.input == 0  # x; gamma and beta are right
    assert "input 1: ok" in report and "input 2: ok" in report
    assert "order 2 only: order 1 passes on this example" in report
    assert failure.example.input_shapes[0] == (2, 1)  # shrunk to the smallest batch


@pytest.mark.parametrize("name", ["conv2d", "deconv2d"])
def test_conv2d_and_deconv2d_fail_at_order_2_on_an_undereferenced_weakref(name: str) -> None:
    failure, report = _failure(name)
    assert (failure.kind, failure.order) == ("error", 2)
    assert "backward raised TypeError: <class 'weakref.ReferenceType'> is not supported" in report
    assert "in Conv2DGradW.backward" in report


@pytest.mark.parametrize("name", ["conv2d", "deconv2d"])
def test_behind_the_weakref_conv2d_has_a_wrong_second_derivative(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = dezero.functions_conv

    def backward(self: Any, gys: Any) -> Any:  # DeZero's, with the weakref dereferenced
        x, gy = self.inputs
        gW = self.outputs[0]()
        xh, xw = x.shape[2:]
        gx = conv.deconv2d(gy, gW, stride=self.stride, pad=self.pad, outsize=(xh, xw))
        ggy = conv.conv2d(x, gW, stride=self.stride, pad=self.pad)
        return gx, ggy

    monkeypatch.setattr(conv.Conv2DGradW, "backward", backward)
    failure, report = _failure(name)
    assert (failure.kind, failure.order) == ("mismatch", 2)
    assert failure.worst.input == 0  # the input's Jacobian; W's is right
    assert "input 1: ok" in report


def test_max_pooling_fails_at_order_3_inside_a_network() -> None:
    # checked at order 3 alone: under Hypothesis 6.155's example stream the default check now
    # stops first at an order-1 mismatch in the composition variant (f(a) + f(b), f(c)), not
    # yet told apart from a tie in a window (open, said in the closing note)
    failure, report = _failure("pooling", CheckOptions(orders=(3,)))
    assert (failure.kind, failure.order) == ("error", 3)
    assert "NotImplementedError" in report
    assert "in Pooling2DWithIndexes.backward" in report


def test_sum_over_a_tuple_of_axes_crashes_in_backward() -> None:
    failure, report = _failure("sum")
    assert (failure.kind, failure.order) == ("error", 1)
    assert isinstance(failure.example.params["axis"], tuple)
    assert "backward raised TypeError" in report
    assert "in Sum.backward" in report


def test_the_reproduce_snippet_reaches_dezero_through_the_shim() -> None:
    result = check_op(FINDINGS["sum"])
    assert result.failure is not None
    snippet = str(result.failure).split("to reproduce, paste into Python:\n", 1)[1]
    assert "import_dezero().functions.sum" in snippet
    out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True)
    assert out.returncode == 1
    assert "the op raised: op 'sum', order 1, float64" in out.stderr


def test_on_numpy_2_float32_gradients_come_back_in_float64() -> None:
    result = check_op(FLOAT32)
    assert result.failure is not None
    failure = result.failure.failure
    assert (failure.kind, failure.example.dtype) == ("dtype", "float32")
    assert "the gradient of input 0 is float64, the input float32" in _flat(result.failure)


def test_a_function_class_is_built_with_the_parameters() -> None:
    target = dezero_target(dezero.functions.Sum, arity=1)
    params = {"axis": 0, "keepdims": True}
    result = check_gradients(target, [np.ones((2, 3))], params, CheckOptions(orders=(1, 2)))
    assert [r.order for r in result.orders] == [1, 2]
    assert dezero_target(dezero.functions.Sin).spec.name == "sin"


def test_returning_an_array_is_reported_as_the_function_s_fault() -> None:
    target = dezero_target(lambda x: x.data * 2, name="unwrapped")
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(target, [np.array([1.0])])
    assert "unwrapped returned ndarray as output 0, expected DeZero Variables" in _flat(
        raised.value
    )
