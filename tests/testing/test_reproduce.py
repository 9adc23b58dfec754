"""The report's reproduce snippet is complete: pasted into a fresh Python session, it runs the
failing check again and fails the same way (float32 arrays stay float32, every option the
check used is there, an op outside the registry is built as it was declared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain, OpDef
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op
from dezero_ext.testing.reproduce import value_source
from tests import fake_dist, mutants

ROOT = Path(__file__).resolve().parents[2]


def snippet_of(report: str) -> str:
    """The snippet lines of a report: after the example line, up to the next report line."""
    lines = report.splitlines()
    start = next(n for n, line in enumerate(lines) if "to reproduce, paste into Python" in line)
    code = []
    for line in lines[start + 1 :]:
        if line.startswith("  ") and not line.startswith("    "):
            break
        code.append(line)
    return "\n".join(code)


def run_fresh(code: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter, as a user pasting it would run it."""
    env = {**os.environ}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def assert_fails_again(report: str, site: Path | None = None) -> str:
    code = snippet_of(report)
    rerun = run_fresh(code, site)
    assert rerun.returncode == 1, f"{code}\n---\n{rerun.stdout}{rerun.stderr}"
    assert "GradientCheckError" in rerun.stderr, rerun.stderr
    head = report.splitlines()[0]
    assert head.replace(" (plugin 'fake_f32')", "") in rerun.stderr, (head, rerun.stderr)
    return code


@pytest.mark.parametrize(
    "opdef",
    [
        mutants.FLIPPED_EXP,
        mutants.TRANSPOSED_MATMUL,
        mutants.UNBROADCAST_ADD,
        mutants.BAD_SECOND_SIN,
        mutants.RELU_RIGHT_AT_ZERO,
        mutants.MAX_EVERY_TIED,
        mutants.SHARED_STATE_SQUARE,  # fails in a composition
        mutants.IN_PLACE_EXP,
    ],
    ids=lambda op: op.name,
)
def test_the_snippet_of_an_op_outside_the_registry_fails_again(opdef: OpDef) -> None:
    result = check_op(opdef, options=CheckOptions(examples=60))
    assert result.failure is not None, result.report
    code = assert_fails_again(str(result.failure))
    assert "OpDef(" in code and "get_registry" not in code
    assert f"tests.mutants.{opdef.function.__qualname__}" in code


def test_the_snippet_keeps_full_jacobian_and_a_tolerance_given() -> None:
    x = np.array([0.25, -1.5])
    with pytest.raises(GradientCheckError) as info:
        check_gradients(mutants.DOUBLED_SQUARE, [x], options=CheckOptions(full_jacobian=True))
    code = assert_fails_again(str(info.value))
    assert "full_jacobian=True" in code
    from dezero_ext import Tolerance

    with pytest.raises(GradientCheckError) as info:
        check_gradients(
            mutants.DOUBLED_SQUARE,
            [x],
            options=CheckOptions(tolerance=Tolerance(rtol=0.3, atol=0.1)),
        )
    code = " ".join(assert_fails_again(str(info.value)).split())  # the call may wrap
    assert "tolerance=Tolerance(rtol=0.3, atol=0.1, rtol32" in code


FLOAT32_ONLY_BUG = """
import numpy as np
from dezero_ext import Domain, Function, OpDef, hookimpl

class Cube32(Function):
    def forward(self, x):
        return x * x * x

    def backward(self, gy):
        (x,) = self.inputs
        factor = 3.5 if x.dtype == np.float32 else 3.0  # fault: float32 only
        return factor * x * x * gy

@hookimpl
def dezero_ext_ops():
    return [OpDef("cube32", Cube32, domains=(Domain(0.5, 2.0),))]
"""


def test_a_float32_failure_found_by_the_command_fails_again_in_float32(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path / "site", "fake_f32", FLOAT32_ONLY_BUG)
    checked = subprocess.run(
        [sys.executable, "-m", "dezero_ext", "check", "cube32", "--json", "--examples", "30"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        check=False,
        timeout=300,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    (row,) = json.loads(checked.stdout)["ops"]
    report = row["report"]
    assert report.splitlines()[0].endswith("order 1, float32"), report
    assert "passes in float64" in report  # the second opinion
    code = assert_fails_again(report, site)
    assert "dtype=np.float32" in code and "get_registry().get('cube32')" in code


@pytest.mark.parametrize(
    "value",
    [
        np.array([[0.1, -2.5e-300], [3.0, 7.0]], dtype=np.float32),
        np.array([1.0, np.nan, -np.inf]),
        np.zeros((0, 3), dtype=np.float16),
        np.zeros((2, 0)),
        np.array(0.5),
        np.array([1, 2, 3]),
        np.array([True, False]),
        np.float32(0.1),
        np.int64(-3),
        (0, -1),
        (slice(None, 2), Ellipsis, None, 1),
        {"axis": (1,), "keepdims": True, "eps": 1e-5, "label": "a, b"},
        [2, 3.5, float("inf")],
    ],
    ids=repr,
)
def test_values_are_written_so_that_they_rebuild_exactly(value: object) -> None:
    source = value_source(value)
    assert not source.notes
    rebuilt = eval(source.expression, {"np": np})
    if isinstance(value, np.ndarray | np.generic):
        assert type(rebuilt) is type(value) and rebuilt.dtype == value.dtype
        assert np.shape(rebuilt) == np.shape(value)
        np.testing.assert_array_equal(rebuilt, value)
    elif isinstance(value, list):
        assert rebuilt == value
    else:
        assert rebuilt == value and type(rebuilt) is type(value)


def test_an_op_declared_in_float32_only_is_reported_with_its_float32_reference() -> None:
    opdef = OpDef("doubled32", mutants.DoubledSquare, domains=(Domain(-2, 2),), dtypes=("float32",))
    result = check_op(opdef, options=CheckOptions(examples=20))
    assert result.failure is not None
    report = str(result.failure)
    assert "float32" in report.splitlines()[0]
    assert "central differences in float32" in report
    assert "float64" not in report  # no float64 reference, and no rerun in a dtype never declared
    assert_fails_again(report)


def test_an_adapter_target_that_cannot_be_imported_says_so() -> None:
    # torch_target(MyFunction.apply) for a Function class defined inside a function, or a
    # function defined in a script: the reproduce line cannot name them; a note says so.
    from dezero_ext.testing.adapters._base import AdapterTarget, declare, source_of

    def make() -> Any:
        class TanhGelu:
            @classmethod
            def apply(cls, x: object) -> object:
                return x

        return TanhGelu

    local_apply = make().apply

    def local_function(x: object) -> object:
        return x

    for fn, name in ((local_apply, "TanhGelu.apply"), (local_function, "local_function")):
        source, imports, notes = source_of("torch_target", fn, {})
        assert source == f"torch_target({name})" and "<locals>" not in source
        (note,) = notes
        assert name.split(".")[0] in note and "defined inside a function" in note
        target = AdapterTarget(fn, declare(fn, {}), source, imports, notes)
        assert target.reproduce_source.notes == notes
    source, imports, notes = source_of("torch_target", np.sin, {})
    assert (source, notes) == ("torch_target(numpy.sin)", ())
    assert source_of("torch_target", local_function, {"source": "mine(f)"})[2] == ()
