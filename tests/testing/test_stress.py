"""``--stress`` (issue 19, item 4): large inputs, projections only. An op wrong only past the
first block of a chunked kernel (a gradient of 0 for elements at flat index 4096 and beyond)
passes the default run, whose inputs have at most 64 elements, and fails under stress; its
correct twin passes both."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from dezero_ext import Array, Declaration, Domain, Function, OpDef, ShapeRule, Variable
from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing.op_targets import OpTarget
from dezero_ext.testing.stress import STRESS_ELEMENTS, check_stress, stress_cases
from tests import fake_dist

BLOCK = 4096


class Cube(Function):
    def forward(self, x: Array) -> Array:
        y: Array = x**3
        return y

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * x * gy


class ChunkedCube(Cube):
    """A kernel that works in blocks of 4096 elements and drops every block but the first."""

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        first_block = (np.arange(x.size) < BLOCK).reshape(x.shape).astype(x.dtype)
        return 3 * x * x * gy * Variable(first_block)  # fault: 0 past the first block


def _op(function: type[Function], name: str) -> OpDef:
    return OpDef(
        name,
        function,
        domains=(Domain(-2.0, 2.0),),
        order=2,
        dtypes=("float64", "float32", "float16"),
    )


CUBE = _op(Cube, "cube")
CHUNKED = _op(ChunkedCube, "chunked_cube")


def test_stress_inputs_are_large_in_every_rule() -> None:
    for rule, arity in [
        (ShapeRule.ELEMENTWISE, 2),
        (ShapeRule.BROADCAST, 2),
        (ShapeRule.MATMUL, 2),
        (ShapeRule.REDUCTION, 1),
    ]:
        spec = Declaration("s", arity=arity, shape_rule=rule)
        for _, case in stress_cases(spec, "float32"):
            assert max(math.prod(x.shape) for x in case.inputs) >= STRESS_ELEMENTS
            assert all(x.dtype == np.float32 for x in case.inputs)


def test_the_chunked_kernel_passes_the_default_run_and_fails_under_stress() -> None:
    assert check_op(CHUNKED).verdict == "ok"  # at most 64 elements: never past the block
    assert check_op(CUBE, CheckOptions(stress=True)).verdict == "ok"
    result = check_op(CHUNKED, CheckOptions(stress=True))
    assert result.verdict == "FAIL", result.report
    report = result.report
    assert "gradient mismatch: op 'chunked_cube', order 1, float64" in report
    assert "variant:       stress:" in report and "projection:" in report
    assert "dezero-ext check chunked_cube --stress --order 1" in report
    assert "np.array(" not in report  # no 10**4-element snippet


def test_stress_checks_each_order_and_dtype_against_float64() -> None:
    seen: list[tuple[str, int]] = []
    count = check_stress(
        OpTarget(CUBE), CheckOptions(), done=lambda dtype, r: seen.append((dtype, r.order))
    )
    assert count >= 2 * 3  # two shapes in three dtypes at least
    assert {d for d, _ in seen} == {"float64", "float32", "float16"}
    assert {k for _, k in seen} == {1, 2}


def test_an_op_with_a_sampler_is_skipped() -> None:
    from dezero_ext import get_registry

    result = check_op(get_registry().get("reshape"), CheckOptions(stress=True))
    assert result.verdict == "ok" and result.examples == 0


def test_the_command_line_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dezero_ext", "check", "exp", "add", "--stress"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "2 ops checked" in out.stdout


def test_the_pytest_option_gives_one_stress_test_per_op(tmp_path: Path) -> None:
    from tests.testing.test_pytest_plugin import _project, _pytest

    project, site = _project(tmp_path, "fake_good", fake_dist.GOOD_PLUGIN)
    result = _pytest(
        project, site, "--dezero-ext-plugin", "fake_good", "--dezero-ext-stress", "-vv"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dezero_ext_ops::cube[stress] PASSED" in result.stdout
    assert "1 passed" in result.stdout
