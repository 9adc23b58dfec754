"""The checker on CuPy arrays (``--backend cupy``): the same targets as on Dask and
array-api-strict (``tests/backend_mutants.py``); skipped with the reason where there is no
CuPy or no GPU (this machine: neither). Not a ``*_dask.py`` file: CI step 3 fails on skips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing.backends import BackendUnavailableError, get_backend
from tests import backend_mutants as m

ROOT = Path(__file__).resolve().parents[2]
FEW = 10


def _cupy_or_skip() -> None:
    try:
        get_backend("cupy")
    except BackendUnavailableError as exc:
        pytest.skip(f"no CuPy backend here: {exc}")


@pytest.mark.parametrize("target", [m.XpCube(), m.WrongOnDask()], ids=["cube", "dask_only_fault"])
def test_a_right_target_passes_on_cupy(target: object) -> None:
    _cupy_or_skip()
    result = check_op(target, CheckOptions(backend="cupy", examples=FEW))  # type: ignore[arg-type]
    assert result.verdict == "ok", result.report


def test_a_numpy_gradient_for_a_cupy_input_is_caught() -> None:
    _cupy_or_skip()
    result = check_op(m.NumpyGradient(), CheckOptions(backend="cupy", examples=FEW))
    assert result.verdict == "FAIL"
    assert result.report.startswith("a result left the inputs' array library or device")


def test_without_cupy_the_command_says_what_to_install() -> None:
    try:
        get_backend("cupy")
    except BackendUnavailableError:
        pass
    else:
        pytest.skip("CuPy and a GPU are here: nothing is missing")
    command = [sys.executable, "-m", "dezero_ext", "check", "exp", "--backend", "cupy"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 2
    assert run.stderr.startswith("dezero-ext check: --backend cupy")
    assert "pip install" in run.stderr or "no GPU" in run.stderr
    assert "Traceback" not in run.stderr
