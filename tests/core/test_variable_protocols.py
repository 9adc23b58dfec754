"""How a Variable meets Python and NumPy protocols: truth value (NumPy's rule), shapes and
axes given as numbers (no silent truncation), and NumPy's conversion and functions, which
would drop the graph and so raise, pointing to ``.data`` and to the op to use."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable, no_grad


def test_the_truth_of_a_one_element_variable_is_its_value() -> None:
    assert bool(Variable(np.array(2.0)))
    assert not bool(Variable(np.array(0.0)))
    assert bool(Variable(np.array([[0.5]])))
    assert not Variable(np.array([0.0]))


@pytest.mark.parametrize("shape", [(2,), (2, 3), (0,)])
def test_the_truth_of_a_variable_of_other_sizes_is_ambiguous(shape: tuple[int, ...]) -> None:
    x = Variable(np.ones(shape))
    with pytest.raises(ValueError, match=r"truth value of a Variable .* ambiguous.*any\(\)"):
        bool(x)
    with pytest.raises(ValueError, match="ambiguous"):
        _ = x if x else None


@pytest.mark.parametrize("shape", [(2.9, 3.9), (2.0, 3.0), ((2.5, 3),), (np.float64(6.0),)])
def test_reshape_refuses_numbers_that_are_not_integers(shape: tuple[object, ...]) -> None:
    x = Variable(np.arange(6.0))
    with pytest.raises(TypeError, match="reshape: shape must be an int or a sequence of ints"):
        x.reshape(*shape)  # type: ignore[arg-type]  # the wrong types under test


def test_reshape_still_takes_ints_tuples_and_numpy_integers() -> None:
    x = Variable(np.arange(6.0))
    assert x.reshape(2, 3).shape == (2, 3)
    assert x.reshape((3, 2)).shape == (3, 2)
    assert x.reshape([6]).shape == (6,)
    assert x.reshape(np.int64(2), -1).shape == (2, 3)  # type: ignore[arg-type]  # as ndarray's
    assert x.reshape(np.array([3, 2])).shape == (3, 2)  # type: ignore[arg-type]  # as ndarray's
    assert x.reshape(6).shape == (6,)


@pytest.mark.parametrize("axes", [(1.5, 0.2), (1.0, 0.0), ((1.0, 0),)])
def test_transpose_refuses_numbers_that_are_not_integers(axes: tuple[object, ...]) -> None:
    x = Variable(np.ones((2, 3)))
    with pytest.raises(TypeError, match="transpose: axes must be"):
        x.transpose(*axes)  # type: ignore[arg-type]  # the wrong types under test
    assert x.transpose(1, 0).shape == (3, 2)


@pytest.mark.parametrize("convert", [np.asarray, np.array, np.asanyarray])
def test_numpy_conversion_raises_and_points_to_data(convert: object) -> None:
    x = Variable(np.ones(3))
    with pytest.raises(TypeError, match=r"x\.data"):
        convert(x)  # type: ignore[operator]  # the three converters


def test_numpy_conversion_inside_a_list_raises_too() -> None:
    with pytest.raises(TypeError, match=r"\.data"):
        np.array([Variable(np.ones(2)), Variable(np.ones(2))])


@pytest.mark.parametrize(
    ("call", "fix"),
    [
        (lambda x: np.sum(x), r"x\.sum\(\)"),
        (lambda x: np.mean(x, axis=0), r"x\.mean\(\)"),
        (lambda x: np.concatenate([x, x]), "dezero_ext op"),
        (lambda x: np.dot(x, np.ones(3)), "dezero_ext op"),
    ],
)
def test_numpy_functions_name_the_cause_and_the_fix(call: object, fix: str) -> None:
    x = Variable(np.ones(3))
    with pytest.raises(TypeError) as info:
        call(x)  # type: ignore[operator]  # the lambdas above
    text = str(info.value)
    assert "records no graph" in text
    assert "np." in text and ".data" in text
    assert __import__("re").search(fix, text), text


def test_ufuncs_and_array_operators_still_defer_to_the_variable() -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = np.array([3.0, 4.0]) * x  # ndarray's operator gives way: a recorded product
    assert isinstance(y, Variable) and y.creator is not None
    z = np.float32(2.0) * x  # type: ignore[operator]  # the stubs know no deferring; NumPy does
    assert isinstance(z, Variable)
    with pytest.raises(TypeError, match=r"np\.exp on a Variable.*np\.exp\(x\.data\)"):
        np.exp(x)  # type: ignore[call-overload]  # refused: NumPy would record no graph


@pytest.mark.parametrize(
    ("array_op", "expected"),
    [
        (lambda a, v: a + v, [4.0, 6.0]),
        (lambda a, v: a - v, [2.0, 2.0]),
        (lambda a, v: a / v, [3.0, 2.0]),
        (lambda a, v: a**v, [3.0, 16.0]),
        (lambda a, v: np.float64(1.0) - v, [0.0, -1.0]),
    ],
)
def test_every_array_operator_reaches_the_variable(array_op: object, expected: list[float]) -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = array_op(np.array([3.0, 4.0]), x)  # type: ignore[operator]  # the lambdas above
    assert isinstance(y, Variable) and y.creator is not None
    np.testing.assert_allclose(y.data, expected)
    y.backward()
    assert x.grad is not None


def test_matmul_of_an_array_and_a_variable_records_the_graph() -> None:
    x = Variable(np.eye(2))
    y = np.ones((1, 2)) @ x
    assert isinstance(y, Variable) and y.creator is not None


def test_an_array_updated_in_place_by_a_variable_computes_on_its_data() -> None:
    # the book's steps 28-29: x0.data -= lr * x0.grad, where grad is a Variable here
    x0 = Variable(np.array(0.0))
    y = 100 * (x0 - 1.0) ** 2
    y.backward()
    data = x0.data
    assert x0.grad is not None
    x0.data -= 0.001 * x0.grad
    assert x0.data is data  # updated in place, not replaced
    np.testing.assert_allclose(x0.data, 0.2)
    a = np.array([1.0, 2.0])
    v = Variable(np.array([2.0, 4.0]))
    a *= v
    a += v
    a /= v
    assert type(a) is np.ndarray
    np.testing.assert_allclose(a, [2.0, 3.0])
    assert v.creator is None and v.grad is None


def test_an_array_and_a_variable_compare_as_objects() -> None:
    x, a = Variable(np.ones(2)), np.ones(2)
    assert (a == x) is False and (x == a) is False and (a != x) is True
    assert x not in [a] and x in [a, x]


@pytest.mark.parametrize(
    "call",
    [
        lambda x, a: np.exp(x, out=a),  # out= but not in place: the result would be silent
        lambda x, a: np.add.reduce(x),
        lambda x, a: np.add(x, a),  # a Variable first: x + a is the way
        lambda x, a: np.maximum(a, x),
    ],
)
def test_other_ufuncs_on_a_variable_are_refused_pointing_to_data(call: object) -> None:
    x, a = Variable(np.ones(2)), np.ones(2)
    with pytest.raises(TypeError, match=r"records no graph.*\.data"):
        call(x, a)  # type: ignore[operator]  # the lambdas above


def test_data_is_still_the_way_to_the_array() -> None:
    x = Variable(np.array([1.0, 2.0]))
    with no_grad():
        y = x * 2
    np.testing.assert_array_equal(np.asarray(y.data), [2.0, 4.0])
