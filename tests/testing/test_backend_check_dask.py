"""The checker on other array backends (``CheckOptions(backend=...)``, ``dezero-ext check
--backend``, pytest's ``--dezero-ext-backend``): targets written by hand through their inputs'
namespace (``tests/backend_mutants.py``), so the machinery is tested whatever the core
accepts. Needs dask and array-api-strict (CI step 3 installs both and fails on a skip)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.array")
pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

from dask.callbacks import Callback

from dezero_ext.cli import main
from dezero_ext.testing import CheckOptions, check_gradients, check_op
from dezero_ext.testing.backends import (
    BackendUnavailableError,
    get_backend,
    not_applicable,
)
from tests import backend_mutants as m

ROOT = Path(__file__).resolve().parents[2]
LAZY = ("array-api-strict", "dask")
FEW = 10  # examples per order: the faults show on the first one


def _flat(report: str) -> str:
    """The report with its wrapped lines joined (one space between words)."""
    return " ".join(report.split())


@pytest.mark.parametrize("backend", LAZY)
def test_a_right_target_passes_on_each_backend(backend: str) -> None:
    result = check_op(m.XpCube(), CheckOptions(backend=backend, examples=FEW))
    assert result.verdict == "ok", result.report
    assert result.orders == (1, 2)
    assert result.examples == 2 * FEW


@pytest.mark.parametrize("backend", LAZY)
def test_a_two_input_target_without_constants_passes(backend: str) -> None:
    """No ``holding``: the constant-input variant is left out, not an error."""
    result = check_op(m.XpMul(), CheckOptions(backend=backend, examples=FEW))
    assert result.verdict == "ok", result.report
    assert result.examples == FEW


def test_results_come_back_in_one_computation_each() -> None:
    """Order 1, one projection: the outputs once, the gradients once; nothing earlier."""
    starts: list[object] = []
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    with Callback(start=starts.append):  # type: ignore[no-untyped-call]  # dask: unannotated
        check_gradients(m.XpCube(), [x], options=CheckOptions(orders=(1,), backend="dask"))
    assert len(starts) == 2


def test_dask_inputs_have_two_chunks_per_axis_where_they_can() -> None:
    dask_backend = get_backend("dask")
    moved = dask_backend.move(np.zeros((3, 1, 4, 0)))
    assert moved.chunks == ((2, 1), (1,), (2, 2), (0,))  # type: ignore[attr-defined]


def test_an_op_without_the_backend_is_not_applicable() -> None:
    result = check_op(m.NumpyOnly(), CheckOptions(backend="dask"))
    assert result.verdict == "n/a" and result.passed
    assert "'numpy_only_cube' declares the backends numpy, not dask" in result.report
    assert "Declaration.backends" in result.report
    assert check_op(m.NumpyOnly(), CheckOptions(examples=FEW)).verdict == "ok"


def test_float16_is_left_out_where_the_backend_has_none() -> None:
    """array-api-strict has no float16: those examples are not drawn there."""
    assert not_applicable(m.XpCube().spec, "array-api-strict") == ""
    from dezero_ext import Declaration

    half = Declaration("half", dtypes=("float16",), backends=m.ALL)
    assert "has none of the dtypes" in not_applicable(half, "array-api-strict")


def test_an_early_compute_in_backward_is_caught_and_named() -> None:
    result = check_op(m.EarlyCompute(), CheckOptions(backend="dask", examples=FEW))
    assert result.verdict == "FAIL"
    first = result.report.splitlines()[0]
    assert first.startswith("the op computed a lazy array before the checker asked")
    assert "'early_compute_cube'" in first and "on dask" in first
    assert "the backward on dask computed its graph once" in _flat(result.report)
    assert "backend_mutants.py" in result.report and "in gradient" in result.report
    assert "np.asarray(g)" in result.report  # the line that did it
    assert "backend='dask'" in result.report  # the reproduce snippet runs on Dask
    assert check_op(m.EarlyCompute(), CheckOptions(examples=FEW)).passed  # fine on NumPy


@pytest.mark.parametrize("backend", LAZY)
def test_a_numpy_gradient_for_a_backend_input_is_caught(backend: str) -> None:
    result = check_op(m.NumpyGradient(), CheckOptions(backend=backend, examples=FEW))
    assert result.verdict == "FAIL"
    assert result.report.startswith("a result left the inputs' array library or device")
    assert "the gradient of input 0 is a numpy array (ndarray)" in _flat(result.report)
    assert result.report.splitlines()[0].endswith(f"on {backend}")


def test_a_gradient_on_another_device_is_caught() -> None:
    result = check_op(m.OtherDevice(), CheckOptions(backend="array-api-strict", examples=FEW))
    assert result.verdict == "FAIL"
    text = _flat(result.report)
    assert "the gradient of input 0 is on device array_api_strict.Device('CPU_DEVICE')" in text
    assert "the inputs on array_api_strict.Device('device1')" in text


def test_a_wrong_gradient_on_one_backend_only_is_caught_there() -> None:
    options = CheckOptions(examples=FEW)
    assert check_op(m.WrongOnDask(), options).passed
    assert check_op(m.WrongOnDask(), CheckOptions(backend="array-api-strict", examples=FEW)).passed
    result = check_op(m.WrongOnDask(), CheckOptions(backend="dask", examples=FEW))
    assert result.verdict == "FAIL"
    assert result.report.startswith("gradient mismatch: op 'wrong_on_dask_cube', order 1")
    assert "on dask" in result.report.splitlines()[0]
    assert "constant factor" in result.report and "1.5 x the numerical one" in result.report


def test_a_backend_that_is_missing_names_its_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.array", None)  # import dask.array: ImportError
    with pytest.raises(BackendUnavailableError, match=r"dezero-ext\[dask,array-api\]"):
        get_backend("dask")
    with pytest.raises(BackendUnavailableError, match="--backend dask needs dask.array"):
        check_op(m.XpCube(), CheckOptions(backend="dask"))


def test_dask_gets_five_times_the_time() -> None:
    """A Dask check builds and schedules a graph per call (div at order 3: ~40x NumPy's time)."""
    numpy_limit = CheckOptions().time_limit
    assert numpy_limit is not None
    assert CheckOptions(backend="dask").time_limit == 5 * numpy_limit
    assert CheckOptions(backend="array-api-strict").time_limit == numpy_limit
    assert CheckOptions(backend="dask", timeout=0).time_limit is None


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend must be one of numpy, array-api-strict"):
        CheckOptions(backend="jax")
    with pytest.raises(ValueError, match="not with stress or traced"):
        CheckOptions(backend="dask", stress=True)


def test_the_command_checks_on_a_backend_and_says_n_a(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # --target MODULE:ATTR is imported from the working directory
    targets = [
        "--target",
        "tests.backend_mutants:XP_CUBE",
        "--target",
        "tests.backend_mutants:NUMPY_ONLY",
    ]
    ops = ["exp", "get_item"]  # exp declares Dask, get_item NumPy only
    assert main(["check", *ops, *targets, "--backend", "dask", "--examples", "3", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    verdicts = {row["op"]: row["verdict"] for row in document["ops"]}
    assert document["backend"] == "dask" and document["passed"]
    assert verdicts["xp_cube"] == "ok" and verdicts["numpy_only_cube"] == "n/a"
    assert verdicts["exp"] == "ok" and verdicts["get_item"] == "n/a"


def test_the_command_fails_on_a_backend_fault(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    target = "tests.backend_mutants:WRONG_ON_DASK"
    assert main(["check", "--target", target, "--backend", "dask", "--examples", "5"]) == 1
    out = capsys.readouterr().out
    assert "gradient mismatch: op 'wrong_on_dask_cube', order 1, float64, on dask" in out


def test_the_command_refuses_backend_with_stress(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "exp", "--backend", "dask", "--stress"]) == 2
    assert "not with stress or traced" in capsys.readouterr().err


def test_pytest_option_checks_on_the_backend_and_skips_ops_without_it(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        "--dezero-ext-op",
        "get_item",
        "--dezero-ext-op",
        "exp",
        "--dezero-ext-backend",
        "dask",
        "--dezero-ext-examples",
        "3",
    ]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "not applicable: 'get_item' declares the backends numpy, not dask" in run.stdout
    assert "3 passed, 1 skipped" in run.stdout  # exp at orders 1 to 3 on Dask
