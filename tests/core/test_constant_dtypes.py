"""Integer constants meet a float Variable as in NumPy 2 (and PyTorch): a small integer type
does not widen float32 (``float32 * int8`` is float32); only one float32 cannot hold exactly
does (``float32 * int32`` is float64, NumPy's rule). A constant alone still becomes float64."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.ops import add, mul


@pytest.mark.parametrize("int_dtype", ["int8", "uint8", "int16", "uint16", "int32", "int64"])
@pytest.mark.parametrize("float_dtype", ["float16", "float32", "float64"])
def test_an_integer_array_promotes_as_in_numpy(int_dtype: str, float_dtype: str) -> None:
    x = Variable(np.ones(3, dtype=float_dtype))
    c = np.array([1, 2, 3], dtype=int_dtype)
    expected = np.result_type(float_dtype, int_dtype)
    for y in (x * c, c * x, x + c, c - x, mul(x, c), add(c, x)):
        assert y.dtype == expected, (float_dtype, int_dtype, y.dtype)


def test_float32_times_int8_stays_float32_gradients_included() -> None:
    x = Variable(np.ones(3, dtype=np.float32))
    y = (x * np.array([1, 2, 3], dtype=np.int8)).sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad is not None and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0, 3.0])


def test_a_numpy_integer_scalar_promotes_as_in_numpy() -> None:
    x = Variable(np.ones(2, dtype=np.float32))
    # (NumPy scalars are not in the Operand type; they are accepted as constants at runtime)
    assert (x * np.int8(3)).dtype == np.float32  # type: ignore[operator]
    assert (x * np.int64(3)).dtype == np.float64  # type: ignore[operator]  # not weak in NumPy 2


def test_an_integer_array_alone_is_float64() -> None:
    assert Variable(np.array([1, 2], dtype=np.int8)).dtype == np.float64
