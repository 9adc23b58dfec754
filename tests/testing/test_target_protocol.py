"""The public ``Target`` protocol: a target in plain NumPy, with its derivative projections
written by hand, is checked like an op — by ``check_gradients`` and ``check_op``, with the
report and the reproduce line naming it — and the doc page's example runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from dezero_ext import Array, Domain, Variable, get_registry
from dezero_ext.cli import main
from dezero_ext.ops import exp
from dezero_ext.testing import (
    CheckOptions,
    GradientCheckError,
    Target,
    TargetFaultError,
    TargetSpec,
    as_target,
    check_gradients,
    check_op,
)
from dezero_ext.testing.op_targets import FunctionTarget, OpTarget
from dezero_ext.testing.protocol import Cotangents, Pullback

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
Derivative = Callable[[Array], Array]


class Elementwise:
    """``f`` applied elementwise, a pure-NumPy target: ``G_k = c_1 ... c_k f^(k)(x)``."""

    def __init__(self, name: str, derivatives: Sequence[Derivative], *, float64_out: bool = False):
        self.derivatives = derivatives
        self.float64_out = float64_out
        self.spec = TargetSpec(name, domains=(Domain(-2.0, 2.0),), order=len(derivatives) - 1)
        self.source = f"tests.testing.test_target_protocol.{name.upper()}"

    def _scale(self, x: Array, cotangents: Cotangents) -> Array:
        scale: Array = np.prod([c[0] for c in cotangents], axis=0).astype(x.dtype)
        return scale

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        (x,) = inputs
        return (self._scale(x, cotangents) * self.derivatives[len(cotangents)](x),)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        (x,) = inputs
        scale, f_next = self._scale(x, cotangents), self.derivatives[len(cotangents) + 1]

        def pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
            g = vs[0] * scale * f_next(x)
            return (g.astype(np.float64) if self.float64_out else g,)

        return self.evaluate(inputs, params, cotangents), pullback


def _tanh(x: Array) -> Array:
    t: Array = np.tanh(x)
    return t


def _sech2(x: Array) -> Array:
    return 1 - _tanh(x) ** 2


def _tanh2(x: Array) -> Array:
    return -2 * _tanh(x) * _sech2(x)


def _tanh3(x: Array) -> Array:
    y: Array = _sech2(x) * (6 * _tanh(x) ** 2 - 2)
    return y


def _tanh3_wrong(x: Array) -> Array:
    y: Array = _sech2(x) * (6 * _tanh(x) ** 2 - 2.5)  # fault: the third derivative only
    return y


NUMPY_TANH = Elementwise("numpy_tanh", [_tanh, _sech2, _tanh2, _tanh3])
BAD_THIRD_TANH = Elementwise("bad_third_tanh", [_tanh, _sech2, _tanh2, _tanh3_wrong])
X = np.array([0.25, -1.5, 1.0])


def test_a_numpy_target_is_a_target_and_passes_every_order() -> None:
    assert isinstance(NUMPY_TANH, Target)
    assert as_target(NUMPY_TANH, 1) is NUMPY_TANH
    result = check_gradients(NUMPY_TANH, [X])
    assert [r.order for r in result.orders] == [1, 2, 3]
    check_gradients(NUMPY_TANH, [X.astype(np.float32)], options=CheckOptions(full_jacobian=True))


def test_check_op_draws_a_target_s_examples_from_its_spec() -> None:
    result = check_op(NUMPY_TANH, options=CheckOptions(examples=15))
    assert result.passed, result.failure
    assert (result.op, result.orders, result.examples) == ("numpy_tanh", (1, 2, 3), 45)


def test_a_wrong_third_derivative_is_reported_with_the_target_s_reproduce_line() -> None:
    check_gradients(BAD_THIRD_TANH, [X], options=CheckOptions(max_order=2))
    with pytest.raises(GradientCheckError) as info:
        check_gradients(BAD_THIRD_TANH, [X])
    failure = info.value.failure
    assert (failure.kind, failure.order) == ("mismatch", 3)
    assert failure.causes[0].startswith("order 3 only")
    report = str(info.value)
    assert report.startswith("gradient mismatch: op 'bad_third_tanh', order 3, float64")
    assert "check_gradients(tests.testing.test_target_protocol.BAD_THIRD_TANH, [x0]" in report
    result = check_op(BAD_THIRD_TANH, options=CheckOptions(examples=15))
    assert result.failure is not None and result.failure.failure.order == 3


def test_a_pullback_in_the_wrong_dtype_is_named() -> None:
    target = Elementwise("float64_pullback", [_tanh, _sech2], float64_out=True)
    check_gradients(target, [X])
    with pytest.raises(GradientCheckError) as info:
        check_gradients(target, [X.astype(np.float32)])
    assert info.value.failure.kind == "dtype"
    assert "float64" in info.value.failure.message


def test_a_fault_the_target_detects_is_reported_with_its_cause() -> None:
    class Strict(Elementwise):
        def linearize(
            self,
            inputs: Sequence[Array],
            params: Mapping[str, object],
            cotangents: Cotangents = (),
        ) -> tuple[tuple[Array, ...], Pullback]:
            raise TargetFaultError("dtype", "the framework saw a float16 buffer", cause="dtype: X")

    with pytest.raises(GradientCheckError) as info:
        check_gradients(Strict("strict", [_tanh, _sech2]), [X])
    failure = info.value.failure
    assert (failure.kind, failure.message, failure.causes) == (
        "dtype",
        "the framework saw a float16 buffer",
        ("dtype: X",),
    )


def exp_twice(x: Variable) -> Variable:
    return exp(exp(x))


def test_the_built_in_targets_and_their_reproduce_lines() -> None:
    op = get_registry().get("exp")
    assert isinstance(as_target(op, 1), OpTarget)
    assert as_target(op, 1).source == "get_registry().get('exp')"
    target = as_target(exp_twice, 1)
    assert isinstance(target, FunctionTarget) and target.spec.order == 4
    assert target.source == "tests.testing.test_target_protocol.exp_twice"
    assert as_target(lambda x: exp(x), 1).source == "<lambda>"


def test_the_doc_page_example_runs() -> None:
    text = DOC.read_text()
    section = text[text.index("## 6. Check anything") : text.index("## 7.")]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    exec(compile(block, str(DOC), "exec"), {})


def test_dezero_ext_check_takes_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "check",
        "--target",
        "tests.testing.test_target_protocol:BAD_THIRD_TANH",
        "--examples",
        "5",
    ]
    assert main([*args, "--json"]) == 1
    captured = capsys.readouterr()
    assert "[1/1] tests.testing.test_target_protocol.BAD_THIRD_TANH (orders 1-3)" in captured.err
    (row,) = json.loads(captured.out)["ops"]
    assert (row["op"], row["plugin"], row["verdict"]) == ("bad_third_tanh", None, "FAIL")
    assert "check_gradients(tests.testing.test_target_protocol.BAD_THIRD_TANH" in row["report"]
