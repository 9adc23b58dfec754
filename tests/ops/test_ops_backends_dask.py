"""Every op declaring a backend other than NumPy (``backends=``) computes on it: drawn
cases (the op's sampler, or its shape rule) moved to array-api-strict or Dask give NumPy's
output and gradients, the gradients in the same library, with no Dask compute. The
declarations must be true: a declared op failing here is a wrong declaration (issue 23).
Needs ``pip install -e '.[dask,array-api]'`` (CI's step 3)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dezero_ext import OpDef, ShapeRule, Variable, get_registry
from dezero_ext.core.backend import BackendMismatchError, backend_of
from dezero_ext.opdef import Case, Domain
from tests.foreign_arrays import FOREIGN, count_computes, to_backend, to_numpy
from tests.numpy_draw import NumpyDraw

pytest.importorskip("array_api_strict")
pytest.importorskip("dask.array")

_SHAPES: dict[ShapeRule, list[tuple[int, ...]]] = {
    ShapeRule.ELEMENTWISE: [(2, 4), (2, 4), (2, 4)],
    ShapeRule.BROADCAST: [(2, 4), (4,), (2, 1)],
    ShapeRule.REDUCTION: [(2, 4)],
    ShapeRule.MATMUL: [(2, 4), (4, 3)],
}
FIRST_MILESTONE = {
    "add", "sub", "mul", "div", "power", "neg", "abs", "log", "pow", "square", "exp",
    "add_scalar", "mul_scalar", "rsub_scalar", "div_scalar", "rdiv_scalar", "rpow_scalar",
    "sum", "mean", "max", "min", "reshape", "transpose", "broadcast_to", "sum_to",
    "expand_dims", "flatten", "matmul", "sin", "cos", "tan", "tanh", "log1p", "sqrt",
    "clip", "maximum", "minimum", "logsumexp",
    "sigmoid", "relu", "softmax", "log_softmax", "linear",
    "mean_squared_error", "softmax_cross_entropy", "sigmoid_cross_entropy",
    "binary_cross_entropy",
}  # fmt: skip


def _declared(backend: str) -> list[str]:
    return sorted(op.name for op in get_registry().ops().values() if backend in op.backends)


def _case(op: OpDef, seed: int) -> Case:
    domains = Domain.per_input(op.domains, op.arity)
    draw = NumpyDraw(seed, domains[0])
    if op.sample is not None:
        return op.sample(draw)
    assert isinstance(op.shape_rule, ShapeRule)
    shapes = _SHAPES[op.shape_rule][: op.arity]
    return Case(tuple(draw.array(s, d) for s, d in zip(shapes, domains, strict=True)))


def _output(op: OpDef, xs: list[Variable], case: Case) -> Variable:
    y = op(*xs, **dict(case.params))
    assert isinstance(y, Variable)  # the first-milestone ops have one output
    return y


def _run(op: OpDef, case: Case, backend: str, seed: Any) -> tuple[Any, list[Any]]:
    xs = [Variable(to_backend(backend, a)) for a in case.inputs]
    y = _output(op, xs, case)
    y.grad = Variable(to_backend(backend, seed))
    y.backward()
    return y, [x.grad for x in xs]


@pytest.mark.parametrize("backend", FOREIGN)
def test_the_first_milestone_ops_declare_every_backend(backend: str) -> None:
    assert set(_declared(backend)) >= FIRST_MILESTONE


@pytest.mark.parametrize(("backend", "name"), [(b, n) for b in FOREIGN for n in _declared(b)])
def test_a_declared_op_computes_on_the_backend_as_on_numpy(backend: str, name: str) -> None:
    op = get_registry().get(name)
    for seed in range(3):
        case = _case(op, seed)
        y0 = _output(op, [Variable(a) for a in case.inputs], case)
        weights = np.random.default_rng(seed).normal(size=y0.shape)
        expected_y, expected_grads = _run(op, case, "numpy", weights)
        with count_computes() as computes:
            y, grads = _run(op, case, backend, weights)
            assert computes.count == 0, f"{name}: Dask computed before it was asked"
        np.testing.assert_allclose(to_numpy(y.data), expected_y.data, rtol=1e-12, atol=1e-14)
        for g, expected in zip(grads, expected_grads, strict=True):
            assert g is not None and expected is not None
            assert backend_of(g.data) == backend
            np.testing.assert_allclose(to_numpy(g.data), expected.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", FOREIGN)
@pytest.mark.parametrize(
    "index",
    [1, (slice(1, 3), slice(None, None, 2)), (None, Ellipsis, 0), np.array([0, 2, 2, -1])],
    ids=["int", "slices", "newaxis", "rows-repeated"],
)
def test_indexing_and_its_scatter_add_run_in_the_library(backend: str, index: Any) -> None:
    a = np.random.default_rng(1).normal(size=(4, 3))
    expected = Variable(a)
    expected[index].sum().backward()
    x = Variable(to_backend(backend, a))
    with count_computes() as computes:
        y = x[index]
        (y * 1.0).sum().backward()
        assert computes.count == 0
    np.testing.assert_array_equal(to_numpy(y.data), a[index])
    assert x.grad is not None and expected.grad is not None
    assert backend_of(x.grad.data) == backend
    np.testing.assert_array_equal(to_numpy(x.grad.data), expected.grad.data)


@pytest.mark.parametrize("backend", FOREIGN)
def test_an_index_outside_the_array_api_kernels_is_refused_by_name(backend: str) -> None:
    x = Variable(to_backend(backend, np.ones((3, 3))))
    with pytest.raises(NotImplementedError, match=rf"get_item: .* on a {backend} array"):
        x[np.array([True, False, True])]


@pytest.mark.parametrize("backend", FOREIGN)
@pytest.mark.parametrize("name", ["matmul", "linear", "mean_squared_error"])
def test_two_libraries_in_one_op_are_refused_naming_each(backend: str, name: str) -> None:
    op = get_registry().get(name)
    a, b = np.ones((2, 2)), to_backend(backend, np.ones((2, 2)))
    with pytest.raises(BackendMismatchError, match=rf"input 0: numpy, input 1: {backend}"):
        op(Variable(a), Variable(b))


@pytest.mark.parametrize("backend", FOREIGN)
def test_power_at_a_zero_base_follows_numpys_conventions_without_computing(
    backend: str,
) -> None:
    a, b = np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 1.5, -1.0, 0.5])
    x0, y0 = Variable(a), Variable(b)
    (x0**y0).sum().backward()
    x, y = Variable(to_backend(backend, a)), Variable(to_backend(backend, b))
    with count_computes() as computes:
        (x**y).sum().backward()
        assert computes.count == 0
    assert x.grad is not None and y.grad is not None
    assert x0.grad is not None and y0.grad is not None
    np.testing.assert_array_equal(to_numpy(x.grad.data), x0.grad.data)
    np.testing.assert_array_equal(to_numpy(y.grad.data), y0.grad.data)


@pytest.mark.parametrize("backend", FOREIGN)
@pytest.mark.parametrize(
    ("name", "params"),
    [("maximum", {}), ("minimum", {}), ("clip", {"low": -0.5, "high": 0.5})],
)
def test_ties_and_bounds_share_the_gradient_as_on_numpy(
    backend: str, name: str, params: dict[str, float]
) -> None:
    op = get_registry().get(name)
    arrays = [np.array([[-0.5, 0.5, 1.0], [0.0, 0.25, -1.0]]), np.array([-0.5, 0.0, 1.0])]
    case = Case(tuple(arrays[: op.arity]), params)
    weights = np.arange(6.0).reshape(2, 3)
    expected_y, expected_grads = _run(op, case, "numpy", weights)
    y, grads = _run(op, case, backend, weights)
    np.testing.assert_array_equal(to_numpy(y.data), expected_y.data)
    for g, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_array_equal(to_numpy(g.data), expected.data)


@pytest.mark.parametrize("backend", FOREIGN)
@pytest.mark.parametrize(
    ("name", "targets"),
    [
        ("softmax_cross_entropy", np.array([2, 0, 1])),
        ("sigmoid_cross_entropy", np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])),
    ],
)
def test_targets_of_the_library_are_used_there_and_numpy_logits_refuse_them(
    backend: str, name: str, targets: np.ndarray[Any, Any]
) -> None:
    op = get_registry().get(name)
    logits = np.random.default_rng(2).normal(size=(3, 3 if targets.ndim == 1 else 2))
    expected = op(Variable(logits), t=targets)
    assert isinstance(expected, Variable)
    x = Variable(to_backend(backend, logits))
    with count_computes() as computes:
        y = op(x, t=to_backend(backend, targets))
        assert isinstance(y, Variable)
        y.backward()
        assert computes.count == 0
    np.testing.assert_allclose(to_numpy(y.data), expected.data, rtol=1e-12)
    with pytest.raises(BackendMismatchError, match=rf"numpy, input 1: {backend}"):
        op(Variable(logits), t=to_backend(backend, targets))
