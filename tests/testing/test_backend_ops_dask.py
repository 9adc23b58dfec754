"""Registered ops checked on array-api-strict and Dask through the core (``dezero-ext check
--backend``): every op that declares the backend passes there with no early compute, and ops
with a backend fault (``tests/backend_mutants.py``: a backward calling ``np.asarray`` on a Dask
array, a NumPy gradient for a Dask input, a gradient wrong on Dask only) are caught and named.
Needs dask and array-api-strict (CI step 3 installs both and fails on a skip)."""

from __future__ import annotations

import pytest

pytest.importorskip("dask.array")
pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

from dezero_ext.registry import get_registry
from dezero_ext.testing import CheckOptions, check_op
from tests import backend_mutants as m

FIRST_MILESTONE = (
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "square",
    "abs",
    "sum",
    "mean",
    "max",
    "min",
    "reshape",
    "transpose",
    "broadcast_to",
    "sum_to",
    "matmul",
    "relu",
    "sigmoid",
    "softmax",
    "log_softmax",
    "mean_squared_error",
    "softmax_cross_entropy",
    "linear",
)
"""The ops of issue 23's first milestone (arithmetic, elementwise math, reductions, shape ops,
matmul, the activations, the losses, linear) that must declare array-api-strict and Dask."""
EXAMPLES = {"array-api-strict": 6, "dask": 3}  # few: Dask builds a graph per call (~10x the time)


def _flat(report: str) -> str:
    return " ".join(report.split())


@pytest.mark.parametrize("backend", ["array-api-strict", "dask"])
def test_the_first_milestone_passes_on_the_backend(backend: str) -> None:
    registry = get_registry()
    declared = [name for name, op in registry.ops().items() if backend in op.backends]
    assert set(FIRST_MILESTONE) <= set(declared), set(FIRST_MILESTONE) - set(declared)
    options = CheckOptions(backend=backend, examples=EXAMPLES[backend])
    failed = {}
    for name in declared:
        result = check_op(registry.get(name), options, plugin=registry.provider(name).name)
        if not result.passed:
            failed[name] = result.report
    assert not failed, "\n\n".join(f"== {name}\n{report}" for name, report in failed.items())


def test_an_op_right_on_every_backend_passes() -> None:
    for backend in ("numpy", "array-api-strict", "dask"):
        result = check_op(m.CUBE_OP, CheckOptions(backend=backend, examples=10))
        assert result.verdict == "ok", (backend, result.report)


def test_an_op_computing_its_dask_graph_in_backward_is_caught_and_named() -> None:
    assert check_op(m.EARLY_COMPUTE_OP, CheckOptions(examples=10)).passed  # fine on NumPy
    result = check_op(m.EARLY_COMPUTE_OP, CheckOptions(backend="dask", examples=10))
    assert result.verdict == "FAIL"
    first, text = result.report.splitlines()[0], _flat(result.report)
    assert first == (
        "the op computed a lazy array before the checker asked: op 'early_compute_op', "
        "order 1, float64, on dask"
    )
    assert "the backward on dask computed its graph once" in text
    assert "backend_mutants.py" in text and "in gradient" in text
    assert "np.asarray(g.data)" in text


def test_an_op_returning_a_numpy_gradient_for_a_dask_input_is_caught() -> None:
    result = check_op(m.NUMPY_GRADIENT_OP, CheckOptions(backend="dask", examples=10))
    assert result.verdict == "FAIL"
    assert result.report.startswith("a result left the inputs' array library or device")
    assert "the gradient of input 0 is a numpy array (ndarray)" in _flat(result.report)


def test_an_op_wrong_on_dask_only_is_caught_on_dask_only() -> None:
    for backend in ("numpy", "array-api-strict"):
        assert check_op(m.WRONG_ON_DASK_OP, CheckOptions(backend=backend, examples=10)).passed
    result = check_op(m.WRONG_ON_DASK_OP, CheckOptions(backend="dask", examples=10))
    assert result.verdict == "FAIL"
    assert result.report.startswith("gradient mismatch: op 'wrong_on_dask_op', order 1")
    assert "1.5 x the numerical one" in _flat(result.report)
