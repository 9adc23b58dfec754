"""dtypes through the built-in ops: float32 stays float32 (values and gradients, first and second
order), Python numbers stay weak, and integer inputs are converted to float64 (the policy
documented in docs/ops.md)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.ops import (
    add,
    broadcast_to,
    div,
    exp,
    expand_dims,
    flatten,
    get_item,
    matmul,
    mean,
    mul,
    neg,
    pow,  # noqa: A004
    power,
    reshape,
    square,
    sub,
    sum,  # noqa: A004
    sum_to,
    transpose,
)

RNG = np.random.default_rng(7)

UNARY: list[tuple[str, Callable[[Variable], Variable], tuple[int, ...]]] = [
    ("square", square, (2, 3)),
    ("exp", exp, (2, 3)),
    ("neg", neg, (2, 3)),
    ("pow", lambda x: pow(x, 3), (2, 3)),
    ("pow_half", lambda x: pow(x, 0.5), (2, 3)),
    ("reshape", lambda x: reshape(x, (3, 2)), (2, 3)),
    ("transpose", lambda x: transpose(x, (1, 0)), (2, 3)),
    ("broadcast_to", lambda x: broadcast_to(x, (4, 2, 3)), (2, 3)),
    ("sum_to", lambda x: sum_to(x, (1, 3)), (2, 3)),
    ("expand_dims", lambda x: expand_dims(x, 0), (2, 3)),
    ("flatten", flatten, (2, 3, 2)),
    ("get_item", lambda x: get_item(x, np.array([1, 1, 0])), (2, 3)),
    ("sum", lambda x: sum(x, axis=(0, 1), keepdims=True), (2, 3)),
    ("mean", lambda x: mean(x, axis=1), (2, 3)),
    ("matmul_self", lambda x: matmul(x, transpose(x)), (2, 3)),
    ("scalar_ops", lambda x: (2 * x + 1.5) / 3 - 0.25 * x**2 + 2**x, (2, 3)),
]
BINARY: list[tuple[str, Callable[[Variable, Variable], Variable]]] = [
    ("add", add),
    ("sub", sub),
    ("mul", mul),
    ("div", div),
    ("power", power),
    ("matmul", matmul),
]


def _float32(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 1.5, size=shape).astype(np.float32)


@pytest.mark.parametrize(("name", "op", "shape"), UNARY, ids=[u[0] for u in UNARY])
def test_float32_in_float32_out_and_float32_gradients_to_second_order(
    name: str, op: Callable[[Variable], Variable], shape: tuple[int, ...]
) -> None:
    x = Variable(_float32(*shape))
    y = op(x)
    assert y.dtype == np.float32, f"{name}: forward gave {y.dtype}"
    y.backward(create_graph=True)
    gx = x.grad
    assert gx is not None
    assert gx.dtype == np.float32, f"{name}: gradient {gx.dtype}"
    x.cleargrad()
    gx.sum().backward()
    if x.grad is not None:  # None when the gradient is constant in x (linear ops)
        assert x.grad.dtype == np.float32, f"{name}: second derivative {x.grad.dtype}"


@pytest.mark.parametrize(("name", "op"), BINARY, ids=[b[0] for b in BINARY])
def test_float32_binary_ops_with_broadcasting(
    name: str, op: Callable[[Variable, Variable], Variable]
) -> None:
    a = Variable(_float32(2, 3, 4))
    b = Variable(_float32(4, 2) if name == "matmul" else _float32(3, 1))
    y = op(a, b)
    assert y.dtype == np.float32
    y.backward(create_graph=True)
    assert a.grad is not None
    assert b.grad is not None
    assert a.grad.dtype == np.float32
    assert b.grad.dtype == np.float32


def test_float32_mixed_with_python_and_numpy_float64_scalars_stays_float32() -> None:
    x = Variable(_float32(3))
    for y in (x * 2.5, 2.5 * x, x + np.float64(1.0), x / 3, x**2.0, x - 1):
        assert y.dtype == np.float32


def test_gradient_has_its_inputs_dtype_when_dtypes_are_mixed() -> None:
    x = Variable(_float32(3))
    w = Variable(np.full(3, 2.0))
    y = x * w  # NumPy promotes the product to float64
    assert y.dtype == np.float64
    y.backward(create_graph=True)
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    assert w.grad is not None
    assert w.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])
    # the cast is differentiable: d/dw of sum(dy/dx) = 1 per element, in w's dtype
    gx = x.grad
    w.cleargrad()
    gx.backward()
    assert w.grad is not None
    assert w.grad.dtype == np.float64
    np.testing.assert_array_equal(w.grad.data, [1.0, 1.0, 1.0])


# ------------------------------------------------------------------------- integer policy
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
def test_integer_arrays_become_float64_variables(dtype: type[np.integer]) -> None:
    data = np.array([1, 2, 3], dtype=dtype)
    x = Variable(data)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x.data, [1.0, 2.0, 3.0])
    y = square(x)
    y.backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])


def test_integer_arrays_passed_to_ops_are_float64_constants() -> None:
    y = exp(np.array([0, 1], dtype=np.int64))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, np.exp([0.0, 1.0]))
    assert add(np.array([1, 2]), 3).dtype == np.float64
    assert div(np.array([1]), np.array([2])).data.tolist() == [0.5]  # true division


def test_integer_array_with_a_float32_variable_promotes_as_numpy_does() -> None:
    # the integer array becomes a float64 constant, and float32 op float64 -> float64
    x = Variable(_float32(3))
    assert add(x, np.array([1, 2, 3])).dtype == np.float64


def test_numpy_integer_scalar_becomes_a_0d_float64_variable() -> None:
    x = Variable(np.int64(3))  # type: ignore[arg-type]  # as_array accepts NumPy scalars
    assert x.shape == ()
    assert x.dtype == np.float64


@pytest.mark.parametrize(
    "data",
    [np.array([True, False]), np.array([1 + 2j]), np.array(["a"]), [1.0, 2.0], 1.0],
    ids=["bool", "complex", "str", "list", "float"],
)
def test_non_numeric_or_non_array_data_is_refused_with_a_clear_error(data: object) -> None:
    with pytest.raises(TypeError, match="Variable: "):
        Variable(data)  # type: ignore[arg-type]  # the error is the point


def test_float16_is_kept() -> None:
    x = Variable(np.ones(2, dtype=np.float16))
    y = square(x)
    assert y.dtype == np.float16
    y.backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float16
