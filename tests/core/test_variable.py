"""Variable: what it accepts, what it refuses, and its array-like attributes."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ("abc", "str 'abc'"),
        (["a", "b"], "list ['a', 'b']"),
        (1.5, "float 1.5"),
        (None, "NoneType None"),
        ([1.0, 2.0], "list [1.0, 2.0]"),
    ],
)
def test_non_arrays_are_refused_with_their_type_and_value(data: object, named: str) -> None:
    with pytest.raises(TypeError, match="Variable: data must be a numpy.ndarray") as info:
        Variable(data)  # type: ignore[arg-type]  # the wrong type is the point of the test
    assert named in str(info.value)
    assert "np.array" in str(info.value)


@pytest.mark.parametrize(
    "array",
    [
        np.array(["a", "b"]),
        np.array([object(), object()]),
        np.array([True, False]),
        np.array([1 + 2j]),
    ],
    ids=["str", "object", "bool", "complex"],
)
def test_non_float_arrays_are_refused_naming_the_dtype(array: np.ndarray) -> None:
    with pytest.raises(TypeError, match=f"dtype {array.dtype}"):
        Variable(array)


def test_float_arrays_are_kept_as_they_are() -> None:
    a32 = np.ones(3, dtype=np.float32)
    v = Variable(a32)
    assert v.data is a32
    assert v.dtype == np.float32


def test_integer_arrays_and_numpy_scalars_are_converted() -> None:
    v = Variable(np.array([1, 2, 3]))
    assert v.dtype == np.float64
    np.testing.assert_array_equal(v.data, [1.0, 2.0, 3.0])
    s = Variable(np.float32(2.5))  # type: ignore[arg-type]  # a NumPy scalar, accepted at run time
    assert s.shape == () and s.dtype == np.float32


def test_array_like_attributes() -> None:
    v = Variable(np.zeros((2, 3)), name="w")
    assert (v.shape, v.ndim, v.size, len(v)) == ((2, 3), 2, 6, 2)
    assert v.dtype == np.float64
    assert v.name == "w"
    assert repr(v) == "variable([[0., 0., 0.],\n          [0., 0., 0.]], name='w')"
    assert repr(Variable(np.array(1.5))) == "variable(1.5)"
    assert v.grad is None and v.creator is None and v.generation == 0


def test_len_of_a_0d_variable_explains() -> None:
    with pytest.raises(TypeError, match="0-d"):
        len(Variable(np.array(1.0)))


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name"):
        Variable(np.ones(2), name=3)  # type: ignore[arg-type]  # the wrong type is the point


def test_methods_reshape_transpose_sum_mean() -> None:
    x = Variable(np.arange(6.0).reshape(2, 3))
    assert x.reshape(3, 2).shape == (3, 2)
    assert x.reshape((6,)).shape == (6,)
    assert x.T.shape == (3, 2)
    assert x.transpose(1, 0).shape == (3, 2)
    assert x.transpose((1, 0)).shape == (3, 2)
    np.testing.assert_array_equal(x.sum(axis=0).data, [3.0, 5.0, 7.0])
    assert x.sum(keepdims=True).shape == (1, 1)
    np.testing.assert_allclose(x.mean(axis=1).data, [1.0, 4.0])


def test_max_min_and_abs_methods_use_the_registered_ops() -> None:
    x = Variable(np.array([[1.0, -4.0], [3.0, 2.0]]))
    np.testing.assert_array_equal(x.max(axis=0).data, [3.0, 2.0])
    np.testing.assert_array_equal(x.min(axis=1, keepdims=True).data, [[-4.0], [2.0]])
    y = abs(x)
    np.testing.assert_array_equal(y.data, np.abs(x.data))
    (x.max() + y.sum()).backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [[1.0, -1.0], [2.0, 1.0]])


def test_the_fast_constructor_makes_what_the_constructor_makes() -> None:
    """``wrap_array`` (the engine's constructor for op outputs, which skips the checks)
    sets every slot the way ``Variable(...)`` does."""
    from dezero_ext.core.variable import wrap_array

    data = np.array([1.0, 2.0])
    a, b = Variable(data), wrap_array(data)
    slots = [s for s in Variable.__slots__ if s != "__weakref__"]
    assert {s: getattr(a, s) for s in slots} == {s: getattr(b, s) for s in slots}


def test_an_op_output_has_every_slot_set() -> None:
    """``Function.__call__`` builds its output inline (the hot path): every slot is set, with
    or without a recorded graph, and for a function of constants only."""
    from dezero_ext import no_grad
    from dezero_ext.ops import exp

    slots = [s for s in Variable.__slots__ if s != "__weakref__"]
    x = Variable(np.array([1.0, 2.0]))
    recorded = exp(x)
    with no_grad():
        unrecorded = exp(x)
    constant = exp(Variable(np.array([1.0]), requires_grad=False))
    for y in (recorded, unrecorded, constant):
        values = {s: getattr(y, s) for s in slots}  # raises on a slot left unset
        assert values["name"] is None and values["grad"] is None and values["_pin"] is None
    assert recorded.creator is not None and recorded.generation == 1 and recorded.requires_grad
    assert unrecorded.creator is None and unrecorded.generation == 0 and unrecorded.requires_grad
    assert constant.creator is None and constant.generation == 0 and not constant.requires_grad
