"""The built-in ops (``dezero_ext.ops``) exercised hard: NumPy semantics of the forward pass,
first and second derivatives against float64 central differences, broadcasting, dtypes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.core.variable import Index
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
from dezero_ext.ops.arithmetic import (
    add_scalar,
    div_scalar,
    mul_scalar,
    rdiv_scalar,
    rpow_scalar,
    rsub_scalar,
)
from tests.oracle import assert_grad, assert_second_order

RNG = np.random.default_rng(20261127)


def rand(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


# ---------------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3, 4), (4, 2)),  # plain 2-D
    ((4,), (4,)),  # vector . vector -> 0-d
    ((4,), (4, 3)),  # vector @ matrix
    ((3, 4), (4,)),  # matrix @ vector
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 3, 4), (4, 5)),  # batch against a single matrix
    ((4, 5), (2, 3, 5, 2)),  # single matrix against a 2-d batch
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dimensions broadcast both ways
    ((4,), (2, 3, 4, 2)),  # vector @ batched
    ((2, 3, 3, 4), (4,)),  # batched @ vector
    ((1, 3, 4), (2, 4, 1)),  # length-1 batch and length-1 output axis
]


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_forward_matches_numpy(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = rand(*sa), rand(*sb)
    y = matmul(Variable(a), Variable(b))
    expected = np.matmul(a, b)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_gradients_first_and_second_order(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = rand(*sa), rand(*sb)
    assert_grad(matmul, a, b)
    assert_second_order(matmul, a, b)


def test_matmul_operator_and_reflected_with_an_array() -> None:
    a, b = rand(3, 4), rand(4, 2)
    x = Variable(a)
    np.testing.assert_allclose((x @ b).data, a @ b)
    w = Variable(b)
    np.testing.assert_allclose((a @ w).data, a @ b)


@pytest.mark.parametrize(
    ("sa", "sb", "message"),
    [
        ((3, 4), (5, 2), r"matmul: \(3, 4\) @ \(5, 2\): inner dimensions 4 and 5 differ"),
        ((4,), (3,), r"matmul: \(4,\) @ \(3,\): inner dimensions 4 and 3 differ"),
        ((2, 3, 4), (5, 4, 2), r"matmul: .*batch dimensions \(2,\) and \(5,\)"),
        ((), (3,), r"matmul: \(\) @ \(3,\): operands must have at least one dimension"),
    ],
)
def test_matmul_shape_errors_name_the_op_and_both_shapes(
    sa: tuple[int, ...], sb: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        matmul(Variable(np.ones(sa)), Variable(np.ones(sb)))


# -------------------------------------------------------------------------------- get_item
def test_get_item_repeated_integer_indices_scatter_add() -> None:
    x = Variable(np.arange(5.0))
    y = get_item(x, np.array([0, 2, 2, -1, 0, 2]))
    np.testing.assert_array_equal(y.data, [0.0, 2.0, 2.0, 4.0, 0.0, 2.0])
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, 3.0, 0.0, 1.0])


def test_get_item_repeated_pairs_of_index_arrays_scatter_add() -> None:
    x = Variable(np.zeros((3, 4)))
    rows, cols = np.array([0, 1, 0, 0]), np.array([2, 3, 2, 2])
    y = x[rows, cols]
    y.grad = Variable(np.array([1.0, 10.0, 100.0, 1000.0]))
    y.backward()
    assert x.grad is not None
    expected = np.zeros((3, 4))
    expected[0, 2] = 1101.0
    expected[1, 3] = 10.0
    np.testing.assert_array_equal(x.grad.data, expected)


def test_get_item_list_index_behaves_like_an_array() -> None:
    x = Variable(np.arange(6.0).reshape(3, 2))
    y = x[[2, 2, 0]]
    np.testing.assert_array_equal(y.data, x.data[[2, 2, 0]])
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])


GET_ITEM_INDICES: list[Index] = [
    1,
    -1,
    slice(1, None),
    slice(None, None, -2),
    (slice(None), 2),
    (Ellipsis, 1),
    (1, Ellipsis, slice(0, 2)),
    (None, slice(None), 0),
    np.array([2, 0, 2, 2]),
    (np.array([0, 2, 0]), slice(1, 3)),
    (slice(None), np.array([[1, 1], [0, 3]])),
    (np.array([0, 0]), np.array([1, 1]), np.array([3, 3])),
    np.array([True, False, True]),
    (slice(None), np.array([True, False, True, True])),
]


@pytest.mark.parametrize("index", GET_ITEM_INDICES, ids=repr)
def test_get_item_matches_numpy_and_its_gradients(index: Index) -> None:
    a = rand(3, 4, 5)

    def op(x: Variable) -> Variable:
        return get_item(x, index)

    np.testing.assert_array_equal(op(Variable(a)).data, a[index])
    assert_grad(op, a)
    assert_second_order(op, a)


def test_get_item_out_of_range_names_the_op() -> None:
    with pytest.raises(IndexError, match=r"get_item: index 7 on shape \(3,\)"):
        get_item(Variable(np.zeros(3)), 7)


# ------------------------------------------------------------------------------ reductions
REDUCTION_CASES = [
    (None, False),
    (None, True),
    (0, False),
    (-1, True),
    ((0, 2), False),
    ((0, 2), True),
    ((2, 0), True),
    ((-1, -3), False),
    ((0, 1, 2), False),
    ((), False),
]


@pytest.mark.parametrize(("axis", "keepdims"), REDUCTION_CASES)
@pytest.mark.parametrize(("op", "ref"), [(sum, np.sum), (mean, np.mean)], ids=["sum", "mean"])
def test_sum_and_mean_match_numpy_with_tuple_axes_and_keepdims(
    op: Callable[..., Variable],
    ref: Callable[..., np.ndarray],
    axis: int | tuple[int, ...] | None,
    keepdims: bool,
) -> None:
    a = rand(2, 3, 4)
    y = op(Variable(a), axis, keepdims)
    expected = ref(a, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)

    def f(x: Variable) -> Variable:
        return op(x, axis, keepdims)

    assert_grad(f, a)
    assert_second_order(f, a)


def test_mean_gradient_is_one_over_the_count() -> None:
    x = Variable(np.ones((2, 3, 4)))
    mean(x, axis=(0, 2)).backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, np.full((2, 3, 4), 1 / 8))


def test_sum_methods_on_variable() -> None:
    a = rand(2, 3)
    x = Variable(a)
    np.testing.assert_allclose(x.sum(axis=1, keepdims=True).data, a.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(x.mean(axis=(0, 1)).data, a.mean())


@pytest.mark.parametrize("op", [sum, mean], ids=["sum", "mean"])
def test_reduction_axis_out_of_range_names_the_op(op: Callable[..., Variable]) -> None:
    with pytest.raises(ValueError, match=r"axis 3 is out of range for a 2-d input"):
        op(Variable(np.zeros((2, 3))), 3)
    with pytest.raises(ValueError, match=r"repeats an axis"):
        op(Variable(np.zeros((2, 3))), (0, -2))


@pytest.mark.parametrize("op", [sum, mean], ids=["sum", "mean"])
def test_reduction_accepts_numpy_integer_axes(op: Callable[..., Variable]) -> None:
    a = rand(2, 3)
    y = op(Variable(a), np.int64(1))
    np.testing.assert_allclose(y.data, a.sum(axis=1) if op is sum else a.mean(axis=1))
    y2 = op(Variable(a), (np.int64(0), np.intp(1)))
    assert y2.shape == ()


@pytest.mark.parametrize("axis", [0, -1])
def test_reduction_of_a_0d_input_over_axis_0_is_what_numpy_does(
    axis: int | tuple[int, ...],
) -> None:
    # NumPy lets a 0-d array be reduced over "axis 0" (and -1); the op accepts it, too.
    x = Variable(np.array(2.5))
    y = sum(x, axis)
    assert y.shape == np.sum(np.array(2.5), axis=axis).shape
    assert float(y.data) == 2.5
    y.backward()
    assert x.grad is not None
    assert float(x.grad.data) == 1.0
    assert float(mean(x, axis).data) == 2.5


def test_mean_over_an_empty_axis_is_nan_as_in_numpy() -> None:
    x = Variable(np.zeros((0, 3)))
    with pytest.warns(RuntimeWarning):
        expected = np.mean(np.zeros((0, 3)), axis=0)
    with pytest.warns(RuntimeWarning):
        y = mean(x, axis=0)
    np.testing.assert_array_equal(y.data, expected)  # all nan
    y.backward()
    assert x.grad is not None
    assert x.grad.shape == (0, 3)


# ---------------------------------------------------------------- broadcasting binary ops
BINARY_OPS: list[tuple[str, Callable[..., Variable], Callable[..., np.ndarray]]] = [
    ("add", add, np.add),
    ("sub", sub, np.subtract),
    ("mul", mul, np.multiply),
    ("div", div, np.divide),
    ("power", power, np.power),
]
BROADCAST_SHAPES = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((4, 1, 3), (2, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((1,), (2, 1, 4)),
]


def _operands(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    if name == "power":  # a positive base: the gradient w.r.t. the exponent needs log(base)
        return rand(*sa, low=0.3, high=2.0), rand(*sb, low=-1.5, high=1.5)
    if name == "div":  # a divisor away from 0
        sign = RNG.choice([-1.0, 1.0], size=sb)
        return rand(*sa), sign * rand(*sb, low=0.5, high=2.0)
    return rand(*sa), rand(*sb)


@pytest.mark.parametrize(("sa", "sb"), BROADCAST_SHAPES)
@pytest.mark.parametrize(("name", "op", "ref"), BINARY_OPS, ids=[b[0] for b in BINARY_OPS])
def test_binary_ops_broadcast_forward_and_gradients(
    name: str,
    op: Callable[..., Variable],
    ref: Callable[..., np.ndarray],
    sa: tuple[int, ...],
    sb: tuple[int, ...],
) -> None:
    a, b = _operands(name, sa, sb)
    y = op(Variable(a), Variable(b))
    np.testing.assert_allclose(y.data, ref(a, b), rtol=1e-12)
    assert_grad(op, a, b)
    assert_second_order(op, a, b)


@pytest.mark.parametrize(("name", "op", "ref"), BINARY_OPS, ids=[b[0] for b in BINARY_OPS])
def test_binary_ops_with_a_constant_array_operand_on_either_side(
    name: str, op: Callable[..., Variable], ref: Callable[..., np.ndarray]
) -> None:
    a, b = _operands(name, (2, 3), (3,))
    x = Variable(a)
    y = op(x, b)
    np.testing.assert_allclose(y.data, ref(a, b))
    y.backward()
    assert x.grad is not None
    assert x.grad.shape == a.shape
    w = Variable(b)
    z = op(a, w)
    z.backward()
    assert w.grad is not None
    assert w.grad.shape == b.shape


def test_operators_with_python_numbers_on_both_sides() -> None:
    a = rand(3, low=0.5, high=2.0)
    x = Variable(a)
    cases = [
        (x + 2, a + 2),
        (2 + x, 2 + a),
        (x - 2, a - 2),
        (2 - x, 2 - a),
        (x * 3, a * 3),
        (3 * x, 3 * a),
        (x / 4, a / 4),
        (4 / x, 4 / a),
        (x**2, a**2),
        (2**x, 2**a),
        (x**x, a**a),
        (-x, -a),
    ]
    for y, expected in cases:
        np.testing.assert_allclose(y.data, expected, rtol=1e-12)


def test_gradient_accumulates_when_a_variable_is_used_twice() -> None:
    x = Variable(np.array([1.5, -2.0]))
    y = add(mul(x, x), x)
    y.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 1)


# ---------------------------------------------------------------------- unary elementwise
@pytest.mark.parametrize(
    ("op", "ref", "low"),
    [
        (square, np.square, -2.0),
        (exp, np.exp, -2.0),
        (neg, np.negative, -2.0),
        (lambda x: pow(x, 3), lambda a: a**3, -2.0),
        (lambda x: pow(x, -2), lambda a: a**-2.0, 0.3),
        (lambda x: pow(x, 0.5), np.sqrt, 0.3),
        (lambda x: pow(x, 1), lambda a: a, -2.0),
        (lambda x: pow(x, 0), np.ones_like, -2.0),
    ],
    ids=["square", "exp", "neg", "pow3", "pow-2", "pow0.5", "pow1", "pow0"],
)
def test_unary_ops_first_and_second_order(
    op: Callable[[Variable], Variable], ref: Callable[[np.ndarray], np.ndarray], low: float
) -> None:
    a = rand(2, 3, low=low)
    np.testing.assert_allclose(op(Variable(a)).data, ref(a), rtol=1e-12)
    assert_grad(op, a)
    assert_second_order(op, a)


def test_third_derivative_of_exp_of_square() -> None:
    # f = exp(x^2): f''' = (12x + 8x^3) exp(x^2)
    x = Variable(np.array(0.7))
    y = exp(square(x))
    y.backward(create_graph=True)
    for _ in range(2):
        g = x.grad
        assert g is not None
        x.cleargrad()
        g.backward(create_graph=True)
    assert x.grad is not None
    expected = (12 * 0.7 + 8 * 0.7**3) * np.exp(0.49)
    assert float(x.grad.data) == pytest.approx(expected, rel=1e-12)


def test_pow_rejects_a_variable_exponent() -> None:
    with pytest.raises(TypeError, match="pow: the exponent c must be a Python number"):
        pow(Variable(np.ones(2)), Variable(np.ones(2)))  # type: ignore[arg-type]  # the error


# ------------------------------------------------------------------------------ shape ops
@pytest.mark.parametrize(
    ("op", "ref", "shape"),
    [
        (lambda x: reshape(x, (3, 4)), lambda a: a.reshape(3, 4), (2, 6)),
        (lambda x: reshape(x, (-1,)), lambda a: a.reshape(-1), (2, 3, 2)),
        (lambda x: reshape(x, (2, -1, 3)), lambda a: a.reshape(2, -1, 3), (12,)),
        (lambda x: transpose(x), lambda a: a.T, (2, 3, 4)),
        (lambda x: transpose(x, (1, 2, 0)), lambda a: a.transpose(1, 2, 0), (2, 3, 4)),
        (lambda x: transpose(x, (-1, 0, -2)), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
        (lambda x: x.T, lambda a: a.T, (2, 3)),
        (lambda x: x.transpose(1, 0), lambda a: a.transpose(1, 0), (2, 3)),
        (lambda x: broadcast_to(x, (4, 2, 3)), lambda a: np.broadcast_to(a, (4, 2, 3)), (2, 1)),
        (lambda x: sum_to(x, (2, 1)), lambda a: a.sum(axis=(0, 2), keepdims=True)[0], (4, 2, 3)),
        (lambda x: sum_to(x, ()), lambda a: a.sum(), (2, 3)),
        (lambda x: expand_dims(x, 1), lambda a: np.expand_dims(a, 1), (2, 3)),
        (lambda x: expand_dims(x, -1), lambda a: np.expand_dims(a, -1), (2, 3)),
        (lambda x: expand_dims(x, 0), lambda a: np.expand_dims(a, 0), ()),
        (flatten, lambda a: a.reshape(2, -1), (2, 3, 4)),
    ],
    ids=lambda v: "" if callable(v) else str(v),
)
def test_shape_ops_match_numpy_and_their_gradients(
    op: Callable[[Variable], Variable],
    ref: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, ...],
) -> None:
    a = rand(*shape)
    np.testing.assert_array_equal(op(Variable(a)).data, ref(a))
    assert_grad(op, a)
    assert_second_order(op, a)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: reshape(x, (4, 2)), ValueError, r"reshape: cannot reshape .*\(2, 3\)"),
        (lambda x: broadcast_to(x, (3, 2)), ValueError, r"broadcast_to: .*\(2, 3\).*\(3, 2\)"),
        (lambda x: sum_to(x, (4,)), ValueError, r"sum_to: .*\(2, 3\).*\(4,\)"),
        (lambda x: transpose(x, (0, 0)), ValueError, r"transpose: axes \(0, 0\)"),
        (lambda x: transpose(x, (0, 5)), ValueError, r"transpose: axes \(0, 5\)"),
        (lambda x: transpose(x, (0,)), ValueError, r"transpose: axes \(0,\)"),
        (lambda x: expand_dims(x, 4), ValueError, r"expand_dims: axis 4 is out of range"),
    ],
    ids=["reshape", "broadcast_to", "sum_to", "transpose-repeat", "transpose-range", "short", "ed"],
)
def test_shape_errors_name_the_op_and_the_shapes(
    call: Callable[[Variable], Variable], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(Variable(np.zeros((2, 3))))


def test_expand_dims_accepts_a_numpy_integer_axis() -> None:
    x = Variable(np.zeros((2, 3)))
    assert expand_dims(x, np.int64(1)).shape == (2, 1, 3)  # type: ignore[arg-type]  # at runtime


@pytest.mark.parametrize(("name", "op", "ref"), BINARY_OPS, ids=[b[0] for b in BINARY_OPS])
def test_binary_ops_name_the_op_and_both_shapes_when_they_do_not_broadcast(
    name: str, op: Callable[..., Variable], ref: Callable[..., np.ndarray]
) -> None:
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) do not broadcast"):
        op(Variable(np.ones((2, 3))), Variable(np.ones(4)))


# ----------------------------------------------------------------------------- scalar ops
SCALAR_OPS: list[tuple[str, Callable[[Variable], Variable], Callable[..., np.ndarray]]] = [
    ("add_scalar", lambda x: add_scalar(x, -2.5), lambda a: a - 2.5),
    ("mul_scalar", lambda x: mul_scalar(x, 3.75), lambda a: a * 3.75),
    ("mul_scalar_0", lambda x: mul_scalar(x, 0), lambda a: a * 0),
    ("rsub_scalar", lambda x: rsub_scalar(x, 1), lambda a: 1 - a),
    ("div_scalar", lambda x: div_scalar(x, -4), lambda a: a / -4),
    ("rdiv_scalar", lambda x: rdiv_scalar(x, 2), lambda a: 2 / a),
    ("rpow_scalar", lambda x: rpow_scalar(x, 0.5), lambda a: 0.5**a),
    ("rpow_scalar_10", lambda x: rpow_scalar(x, 10), lambda a: 10.0**a),
]


@pytest.mark.parametrize(("name", "op", "ref"), SCALAR_OPS, ids=[s[0] for s in SCALAR_OPS])
def test_scalar_ops_values_derivatives_and_float32(
    name: str, op: Callable[[Variable], Variable], ref: Callable[..., np.ndarray]
) -> None:
    a = rand(2, 3, low=0.5, high=2.0) * RNG.choice([-1.0, 1.0], size=(2, 3))
    np.testing.assert_allclose(op(Variable(a)).data, ref(a), rtol=1e-14)
    assert_grad(op, a)
    assert_second_order(op, a)
    x = Variable(a.astype(np.float32))
    y = op(x)
    assert y.dtype == np.float32
    y.backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("base", [0, -2.0])
def test_rpow_scalar_refuses_a_base_that_is_not_positive_naming_the_op(base: float) -> None:
    # c ** x has the gradient log(c) * c ** x: real only for c > 0
    with pytest.raises(ValueError, match=rf"rpow_scalar: the base must be > 0, got {base}"):
        rpow_scalar(Variable(np.ones(2)), base)


def test_python_number_to_the_power_of_a_variable_with_a_negative_base_follows_numpy() -> None:
    x = Variable(np.array([2.0, 3.0]))
    y = (-2.0) ** x  # through power(): integer exponents give real values
    np.testing.assert_array_equal(y.data, [4.0, -8.0])
