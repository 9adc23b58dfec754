"""The core on other libraries' arrays (issue 23): a Variable holds an array-api-strict or
Dask array as it is, ops compute in that library, the backward pass keeps gradients there,
and nothing on the way calls ``np.asarray`` on them (a Dask graph is never computed before the
user asks). Inputs of two libraries are refused naming each. Needs
``pip install -e '.[dask,array-api]'`` (CI's step 3)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dezero_ext.ops as F  # noqa: N812 - DeZero's alias
from dezero_ext import MultiOutputFunction, Variable
from dezero_ext.core.backend import BackendMismatchError, backend_of
from tests.foreign_arrays import FOREIGN, count_computes, to_backend, to_numpy

pytest.importorskip("array_api_strict")
pytest.importorskip("dask.array")

RNG = np.random.default_rng(23)


def _graph(x: Any, w: Any) -> Any:
    """A small graph of first-milestone core ops: binary, scalar and unary ones."""
    y = F.exp(x * w - 0.5) / (1.0 + F.square(x)) + 2.0 * F.log(x + 3.0)
    return abs(-(y**2)) - x / w


@pytest.mark.parametrize("backend", FOREIGN)
def test_a_variable_keeps_another_librarys_array(backend: str) -> None:
    data = to_backend(backend, RNG.normal(size=(2, 3)))
    x = Variable(data)
    assert x.data is data
    assert x.shape == (2, 3)
    ints = Variable(to_backend(backend, np.arange(4)))
    assert backend_of(ints.data) == backend
    assert "float64" in str(ints.dtype)


@pytest.mark.parametrize("backend", FOREIGN)
def test_forward_and_backward_stay_in_the_library_and_match_numpy(backend: str) -> None:
    a, b = RNG.uniform(0.5, 1.5, size=(3, 4)), RNG.uniform(0.5, 1.5, size=(3, 4))
    x0, w0 = Variable(a), Variable(b)
    _graph(x0, w0).backward()
    with count_computes() as computes:
        x, w = Variable(to_backend(backend, a)), Variable(to_backend(backend, b))
        y = _graph(x, w)
        y.backward()
        assert repr(y)  # a repr shows the array without computing it
        assert computes.count == 0
    assert x.grad is not None and w.grad is not None
    for v in (y, x.grad, w.grad):
        assert backend_of(v.data) == backend
    np.testing.assert_allclose(to_numpy(y.data), y_np := _graph(Variable(a), Variable(b)).data)
    assert y_np.shape == (3, 4)
    assert x0.grad is not None and w0.grad is not None
    np.testing.assert_allclose(to_numpy(x.grad.data), x0.grad.data, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(w.grad.data), w0.grad.data, rtol=1e-12)


@pytest.mark.parametrize("backend", FOREIGN)
def test_a_broadcast_gradient_is_summed_back_in_the_library(backend: str) -> None:
    a, b = RNG.normal(size=(3, 4)), RNG.normal(size=(1, 4))
    x, w = Variable(to_backend(backend, a)), Variable(to_backend(backend, b))
    with count_computes() as computes:
        (x * w + w).backward()
        assert computes.count == 0
    assert w.grad is not None
    assert backend_of(w.grad.data) == backend
    np.testing.assert_allclose(to_numpy(w.grad.data), a.sum(axis=0, keepdims=True) + 3)


@pytest.mark.parametrize("backend", FOREIGN)
def test_higher_derivatives_stay_in_the_library(backend: str) -> None:
    x = Variable(to_backend(backend, np.array([0.5, 1.0, 2.0])))
    y = x**3 + F.exp(x)
    y.backward(create_graph=True)
    assert x.grad is not None
    gx = x.grad
    x.cleargrad()
    gx.backward()
    assert x.grad is not None
    assert backend_of(x.grad.data) == backend
    values = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(to_numpy(x.grad.data), 6 * values + np.exp(values))


@pytest.mark.parametrize("backend", FOREIGN)
@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div])
def test_inputs_of_two_libraries_are_refused_naming_each(backend: str, op: Any) -> None:
    foreign = Variable(to_backend(backend, np.ones(3)))
    with pytest.raises(BackendMismatchError, match=rf"input 0: numpy, input 1: {backend}"):
        op(Variable(np.ones(3)), foreign)
    with pytest.raises(BackendMismatchError, match=rf"input 0: {backend}, input 1: numpy"):
        op(foreign, np.ones(3))


class _Halves(MultiOutputFunction):
    """Two outputs, 2x and 3x its input: a gradient for the one the graph uses only."""

    def forward(self, x: Any) -> tuple[Any, Any]:
        return x * 2.0, x * 3.0

    def backward(self, g0: Variable, g1: Variable) -> Variable:
        return g0 * 2.0 + g1 * 3.0


@pytest.mark.parametrize("backend", FOREIGN)
def test_an_unused_output_gets_zeros_of_the_library(backend: str) -> None:
    x = Variable(to_backend(backend, np.array([1.0, 2.0])))
    with count_computes() as computes:
        doubled, _ = _Halves()(x)
        doubled.sum().backward()
        assert computes.count == 0
    assert x.grad is not None
    assert backend_of(x.grad.data) == backend
    np.testing.assert_array_equal(to_numpy(x.grad.data), [2.0, 2.0])


@pytest.mark.parametrize("backend", FOREIGN)
def test_a_seed_of_another_library_is_refused_naming_both(backend: str) -> None:
    x = Variable(to_backend(backend, np.array([1.0, 2.0])))
    y = F.exp(x)
    y.grad = Variable(np.ones(2))
    with pytest.raises(BackendMismatchError, match=rf"input 0: {backend}, input 1: numpy"):
        y.backward()


def test_python_numbers_meet_a_strict_array_on_its_own_device() -> None:
    # A Python number in an op is made in the other operand's library, on its device: made on
    # the default device, array-api-strict refused the pair (two devices) and the op said the
    # shapes did not broadcast.
    xs = pytest.importorskip("array_api_strict")
    device = xs.Device("device1")
    x = Variable(xs.asarray([1.0, 2.0], device=device))
    y = F.sum(F.add(x * 2.0, 1.0) - F.div(3.0, x))  # F.add(x, 1.0): 1.0 made beside x
    y.backward()
    assert x.grad is not None and x.grad.data.device == device
    on_cpu = x.grad.data.to_device(xs.Device("CPU_DEVICE"))
    np.testing.assert_allclose(np.asarray(on_cpu), [2.0 + 3.0, 2.0 + 3.0 / 4.0])
