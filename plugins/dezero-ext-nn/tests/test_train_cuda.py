"""``dezero_ext_nn.cuda``: DeZero's GPU names. Where no GPU can be used (this machine: no CuPy,
no CUDA device), ``gpu_enable`` is False and asking for the GPU says why; where one can, the
CuPy tests below move a model, its optimizer and its loader to the GPU and back and train a
step there. Those have never run: no machine this was written on has a GPU. The moving code
itself is tested with array-api-strict standing in for CuPy (``test_train_cuda_dask.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dezero_ext_nn as dezero
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's name
from dezero_ext import Variable
from dezero_ext_nn import cuda, optimizers
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import Spiral
from dezero_ext_nn.models import MLP

NO_GPU = f"{cuda.why_no_gpu()}; the CuPy path has never run on a GPU"
needs_gpu = pytest.mark.skipif(not cuda.gpu_enable, reason=NO_GPU)
without_gpu = pytest.mark.skipif(cuda.gpu_enable, reason="a GPU is usable here")


@without_gpu
def test_the_book_guard_keeps_a_program_on_the_cpu() -> None:
    # step 52: `if dezero.cuda.gpu_enable: train_loader.to_gpu(); model.to_gpu()`
    assert dezero.cuda is cuda
    assert cuda.gpu_enable is False
    assert cuda.cupy_available is (cuda.cupy is not None)


def test_get_array_module_is_numpy_for_numpy_data() -> None:
    assert cuda.get_array_module(np.ones(2)) is np
    assert cuda.get_array_module(Variable(np.ones(2))) is np


def test_as_numpy_returns_numpy_arrays() -> None:
    a = np.arange(3.0)
    assert cuda.as_numpy(a) is a
    assert cuda.as_numpy(Variable(a)) is a
    got = cuda.as_numpy(2.5)
    assert isinstance(got, np.ndarray)
    assert got.shape == ()
    assert got == 2.5


@pytest.mark.skipif(cuda.cupy is not None, reason="CuPy is installed here")
def test_as_cupy_without_cupy_says_to_install_it() -> None:
    with pytest.raises(cuda.GPUUnavailableError, match="as_cupy.*CuPy is not installed"):
        cuda.as_cupy(np.ones(2))


@without_gpu
def test_to_gpu_on_a_model_raises_a_clear_error_and_changes_nothing() -> None:
    model = MLP((3, 2))
    model(np.ones((1, 4), np.float32))
    before = {k: p.data.copy() for k, p in model.namedparams()}
    with pytest.raises(cuda.GPUUnavailableError, match=r"MLP\.to_gpu\(\): no GPU.*gpu_enable"):
        model.to_gpu()
    model.to_cpu()
    for key, param in model.namedparams():
        assert isinstance(param.data, np.ndarray)
        np.testing.assert_array_equal(param.data, before[key])


@without_gpu
def test_to_gpu_on_a_layer_and_a_loader() -> None:
    with pytest.raises(cuda.GPUUnavailableError, match=r"Linear\.to_gpu\(\)"):
        L.Linear(2).to_gpu()
    loader = DataLoader(Spiral(), 10, shuffle=False)
    with pytest.raises(cuda.GPUUnavailableError, match=r"DataLoader\.to_gpu\(\)"):
        loader.to_gpu()
    loader.to_cpu()
    x, _ = next(loader)
    assert isinstance(x, np.ndarray)
    assert x.shape == (10, 2)


def _is_cupy(a: object) -> bool:
    return cuda.cupy is not None and isinstance(a, cuda.cupy.ndarray)


@needs_gpu
def test_a_model_its_optimizer_and_loader_go_to_the_gpu_and_back() -> None:
    np.random.seed(0)
    model = MLP((10, 3), dtype=np.float64)
    optimizer = optimizers.MomentumSGD(0.1).setup(model)
    loader = DataLoader(Spiral(), 30, seed=0)
    x, t = next(loader)
    _step(model, optimizer, x, t)
    before = {k: p.data.copy() for k, p in model.namedparams()}
    model.to_gpu()
    optimizer.to_gpu()
    loader.to_gpu()
    assert all(_is_cupy(p.data) for p in model.params())
    assert all(_is_cupy(v) for v in optimizer.vs.values())
    gx, gt = next(loader)
    assert _is_cupy(gx) and _is_cupy(gt)
    model.to_cpu()
    optimizer.to_cpu()
    loader.to_cpu()
    for key, param in model.namedparams():
        assert type(param.data) is np.ndarray
        np.testing.assert_array_equal(param.data, before[key])


@needs_gpu
def test_a_training_step_on_the_gpu_matches_the_cpus() -> None:
    losses = []
    for on_gpu in (False, True):
        np.random.seed(0)
        model = MLP((10, 3), dtype=np.float64)
        optimizer = optimizers.SGD(1.0).setup(model)
        loader = DataLoader(Spiral(), 30, seed=0)
        if on_gpu:
            model.to_gpu()
            optimizer.to_gpu()
            loader.to_gpu()
        x, t = next(loader)
        losses.append([_step(model, optimizer, x, t) for _ in range(3)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-12)


def _step(model: MLP, optimizer: optimizers.Optimizer, x: Any, t: Any) -> float:
    loss = dezero.functions.softmax_cross_entropy(model(x), t)
    model.cleargrads()
    loss.backward()
    optimizer.update()
    return float(cuda.as_numpy(loss.data))


def test_to_cpu_on_a_numpy_model_changes_no_object() -> None:
    model = MLP((3, 2))
    loss = dezero.functions.sum(model(np.ones((2, 4), np.float32)))
    loss.backward()
    before = [(p.data, p.grad) for p in model.params()]
    model.to_cpu()
    assert all(
        p.data is data and p.grad is grad
        for p, (data, grad) in zip(model.params(), before, strict=True)
    )
