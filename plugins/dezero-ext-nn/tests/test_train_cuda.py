"""``dezero_ext_nn.cuda``: DeZero's GPU names, on a machine where no GPU can be used."""

from __future__ import annotations

import numpy as np
import pytest

import dezero_ext_nn as dezero
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's name
from dezero_ext import Variable
from dezero_ext_nn import cuda
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import Spiral
from dezero_ext_nn.models import MLP


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
