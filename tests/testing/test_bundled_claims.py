"""The bundled ops' own claims: which carry an independent reference and error inputs, and
that each holds (``dezero-ext check`` runs them too; here without Hypothesis's examples)."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import get_registry
from dezero_ext.testing.claims import check_error_inputs
from dezero_ext.testing.op_targets import OpTarget
from tests.numpy_draw import NumpyDraw

WITH_REFERENCE = {
    *("abs", "add", "sub", "mul", "div", "neg", "power", "exp", "log", "square", "matmul"),
    *("sum", "mean", "max", "min", "logsumexp"),
    *("sin", "cos", "tan", "tanh", "log1p", "sqrt", "clip", "maximum", "minimum"),
    *("sigmoid", "relu", "softmax", "log_softmax"),
}
NAIVE_LOOPS = {"conv2d", "pooling", "average_pooling", "linear", "batch_norm"}
WITH_ERROR_INPUTS = {
    *("add", "sub", "mul", "div", "power", "matmul", "maximum", "minimum", "clip"),
    *("sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"),
    *("reshape", "transpose", "broadcast_to", "sum_to", "linear", "embed_id"),
    *("softmax_cross_entropy", "mean_squared_error", "binary_cross_entropy"),
}


def test_the_bundled_ops_declare_their_references_and_error_inputs() -> None:
    ops = get_registry().ops()
    with_reference = {name for name, op in ops.items() if op.reference is not None}
    assert with_reference == WITH_REFERENCE | NAIVE_LOOPS
    assert {name for name, op in ops.items() if op.error_inputs} == WITH_ERROR_INPUTS


@pytest.mark.parametrize("name", sorted(WITH_ERROR_INPUTS))
def test_each_bundled_error_input_raises_what_it_declares(name: str) -> None:
    check_error_inputs(OpTarget(get_registry().get(name)))


@pytest.mark.parametrize("name", sorted(WITH_REFERENCE))
def test_each_bundled_reference_agrees_with_its_op_and_not_with_a_wrong_one(name: str) -> None:
    op = get_registry().get(name)
    assert op.reference is not None
    rng = np.random.default_rng(0)
    domain = op.domains[0]
    drawn = rng.uniform(max(domain.lower, 0.3), min(domain.high, 1.5), size=(op.arity, 2, 3))
    x = [drawn[0], drawn[1].T] if name == "matmul" else list(drawn)
    params: dict[str, object] = {"axis": 1} if name in ("softmax", "log_softmax") else {}
    if name == "clip":
        params = {"low": -0.5, "high": 1.0}
    expected = op(*x, **params).data  # type: ignore[union-attr]  # one output
    got = op.reference(*x, **params)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    moved = [x[0] * 1.1, *x[1:]]  # the first input moved: the reference sees it
    assert not np.allclose(op.reference(*moved, **params), expected, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(NAIVE_LOOPS))
@pytest.mark.parametrize("seed", range(5))
def test_each_naive_loop_reference_agrees_with_its_op_on_sampled_cases(
    name: str, seed: int
) -> None:
    op = get_registry().get(name)
    assert op.reference is not None and op.sample is not None
    case = op.sample(NumpyDraw(seed, op.domains[0]))
    expected = op(*case.inputs, **case.params).data  # type: ignore[union-attr]  # one output
    np.testing.assert_allclose(op.reference(*case.inputs, **case.params), expected, atol=1e-12)
    x = case.inputs[0]
    warped = x * np.linspace(0.7, 1.3, x.size).reshape(x.shape) + 0.25  # no invariance hides it
    moved = [warped, *case.inputs[1:]]
    if name == "batch_norm":  # normalizing 2 values per channel gives +-1 whatever they are
        moved = [*case.inputs[:-1], case.inputs[-1] + 0.25]  # beta moved
    assert not np.allclose(op.reference(*moved, **case.params), expected)


def test_the_listing_says_which_ops_have_a_reference_and_error_inputs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from dezero_ext.cli import main

    assert main(["ops", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["ops"]}
    assert rows["sin"]["reference"] == "elementwise_reference(sin)"
    assert (
        rows["conv2d"]["reference"] == "conv2d_reference" and rows["reshape"]["reference"] is None
    )
    assert rows["sum"]["error_inputs"] == [
        "shapes (2, 3) with axis=2 -> ValueError /axis 2 is out of range/"
    ]
    assert main(["ops"]) == 0
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:-2]}
    # the forward column, then the jvp column (then the backends)
    every = "numpy,array-api-strict,dask,cupy"
    assert table["sum"].split()[-5:] == ["ref,", "1", "err", "native", every]
    assert table["sin"].split()[-3:-1] == ["ref", "native"]
    assert table["flatten"].split()[-3:-1] == ["-", "native"]
