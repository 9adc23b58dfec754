"""``Variable.to_cpu()`` and ``to_gpu()``, DeZero's names: the array is a NumPy array on the
CPU, so ``to_cpu`` leaves it as it is and ``to_gpu`` says why there is no GPU to move to."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable


def test_to_cpu_leaves_the_numpy_array_as_it_is() -> None:
    data = np.arange(3.0)
    x = Variable(data, name="x")
    x.to_cpu()
    assert x.data is data


def test_to_gpu_refuses_and_says_how_to_stay_on_the_cpu() -> None:
    x = Variable(np.ones((2, 3)), name="x")
    with pytest.raises(RuntimeError, match=r"Variable\.to_gpu\(\): no GPU .* NumPy .*gpu_enable"):
        x.to_gpu()
    assert isinstance(x.data, np.ndarray)
