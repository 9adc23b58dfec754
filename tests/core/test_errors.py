"""Bad input gets a clear error naming the value, the op and the fix, and leaves no graph."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Function, MultiOutputFunction, Variable
from dezero_ext.ops import add, matmul, reshape, square


class ReturnsString(Function):
    def forward(self, x: Array) -> Array:
        return "oops"  # type: ignore[return-value]  # the bug under test

    def backward(self, gy: Variable) -> Variable:
        return gy


class ReturnsTuple(Function):
    def forward(self, x: Array) -> Array:
        return (x, x)  # type: ignore[return-value]  # the bug under test

    def backward(self, gy: Variable) -> Variable:
        return gy


class ReturnsScalar(Function):
    def forward(self, x: Array) -> Array:
        return np.sum(x)  # type: ignore[no-any-return]  # a NumPy scalar: accepted, made 0-d

    def backward(self, gy: Variable) -> Variable:
        return gy * Variable(np.ones_like(self.inputs[0].data))


class MultiReturnsArray(MultiOutputFunction):
    def forward(self, x: Array) -> tuple[Array, ...]:
        return x  # type: ignore[return-value]  # the bug under test

    def backward(self, *gys: Variable) -> Variable:
        return gys[0]


class Fails(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        raise FloatingPointError("inside forward")

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        return gy, gy


def test_forward_returning_a_non_array_names_the_op_and_the_value() -> None:
    with pytest.raises(TypeError, match=r"ReturnsString\.forward returned str 'oops'.*np\.asarray"):
        ReturnsString()(Variable(np.ones(2)))


def test_forward_returning_several_outputs_from_a_function() -> None:
    with pytest.raises(TypeError, match="subclass MultiOutputFunction"):
        ReturnsTuple()(Variable(np.ones(2)))
    with pytest.raises(TypeError, match="returns a tuple of arrays"):
        MultiReturnsArray()(Variable(np.ones(2)))


def test_a_numpy_scalar_result_becomes_a_0d_array() -> None:
    y = ReturnsScalar()(Variable(np.ones(3)))
    assert isinstance(y.data, np.ndarray) and y.shape == ()


def test_a_failing_forward_leaves_no_graph_behind() -> None:
    x0, x1 = Variable(np.ones(2)), Variable(np.ones(2))
    with pytest.raises(FloatingPointError):
        Fails()(x0, x1)
    assert x0.creator is None and x1.creator is None and x0.generation == 0


def test_inputs_that_are_not_numbers_name_the_op_and_input() -> None:
    with pytest.raises(TypeError, match=r"add: input 1: Variable: data must be .* got str 'a'"):
        add(Variable(np.ones(2)), "a")  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(TypeError, match="square: input 0: .*dtype bool"):
        square(np.array([True]))
    with pytest.raises(TypeError, match="bool"):
        add(Variable(np.ones(2)), True)


class WrongCount(Function):
    def forward(self, x: Array) -> Array:
        return x

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        return gy, gy


class WrongShape(Function):
    def forward(self, x: Array) -> Array:
        return x.sum(keepdims=True)  # type: ignore[no-any-return]  # NumPy stubs give Any

    def backward(self, gy: Variable) -> Variable:
        return gy  # forgot to broadcast back to the input's shape


class RawArray(Function):
    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, gy: Variable) -> Variable:
        return 2 * gy.data  # type: ignore[return-value]  # the bug under test


@pytest.mark.parametrize(
    ("function", "error", "message"),
    [
        (WrongCount, ValueError, r"WrongCount\.backward returned 2 gradients for 1 inputs"),
        (WrongShape, ValueError, r"gradient of shape \(1,\) for input 0 of shape \(3,\)"),
        (RawArray, TypeError, r"RawArray\.backward returned ndarray for input 0.*Variable"),
    ],
)
def test_a_bad_backward_is_reported_by_name(
    function: type[Function], error: type[Exception], message: str
) -> None:
    y = function()(Variable(np.ones(3)))
    with pytest.raises(error, match=message):
        y.backward()


def test_shape_errors_name_the_op_and_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"matmul: \(3, 4\) @ \(5, 2\): inner dimensions 4 and 5"):
        matmul(Variable(np.ones((3, 4))), Variable(np.ones((5, 2))))
    with pytest.raises(
        ValueError, match=r"reshape: cannot reshape .* shape \(2, 3\) .* into \(4,\)"
    ):
        reshape(Variable(np.ones((2, 3))), (4,))
