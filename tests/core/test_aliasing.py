"""Views and bases (issue 18, items 1 and 2): memory a recorded graph reads cannot change
under it, however the array was reached — through a view op (``reshape``, ``.T``, slicing,
``expand_dims``, ``flatten``, ``broadcast_to``) or through the base of the array a leaf holds.
Every write is refused where it happens, or the next backward raises: never a wrong gradient.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.ops import broadcast_to, expand_dims, flatten, square, transpose

ViewOp = Callable[[Variable], Variable]

# Each makes a NumPy view of its input (no copy) and keeps no input; the gradient of
# sum(view(x)**2) is 2x for the first ones (a permutation or a selection of the elements).
VIEWS: dict[str, ViewOp] = {
    "reshape": lambda x: x.reshape(2, 2),
    ".T": lambda x: x.reshape(2, 2).T,
    "transpose": lambda x: transpose(x.reshape(2, 2), (1, 0)),
    "slice": lambda x: x[1:],
    "step slice": lambda x: x[::-1],
    "expand_dims": lambda x: expand_dims(x, 0),
    "flatten": lambda x: flatten(x.reshape(2, 2)),
}


def _grad(x: Variable) -> np.ndarray:
    assert x.grad is not None
    return x.grad.data


def _right(name: str, values: np.ndarray) -> np.ndarray:
    expected = 2 * values
    if name == "slice":
        expected[0] = 0.0
    return expected


@pytest.mark.parametrize("name", list(VIEWS))
def test_writing_a_leaf_through_data_before_backward_is_refused(name: str) -> None:
    x = Variable(np.arange(4.0))
    z = square(VIEWS[name](x)).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    z.backward()
    np.testing.assert_array_equal(_grad(x), _right(name, np.arange(4.0)))


@pytest.mark.parametrize("name", list(VIEWS))
def test_writing_a_leaf_between_two_backwards_raises_at_the_second(name: str) -> None:
    x = Variable(np.arange(4.0))
    z = square(VIEWS[name](x)).sum()
    z.backward()
    x.data[0] = 5.0  # after a backward: x gets its own copy (copy-on-write)
    x.cleargrad()
    with pytest.raises(RuntimeError, match="changed after the graph was recorded"):
        z.backward()
    assert x.grad is None


def test_the_issue_example_through_mul() -> None:
    x = Variable(np.arange(4.0))
    y = x.reshape(2, 2)
    z = (y * y).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    z.backward()
    np.testing.assert_array_equal(_grad(x), [0.0, 2.0, 4.0, 6.0])


def test_broadcast_to_a_leaf_pins_it() -> None:
    x = Variable(np.array([1.0, 2.0]))
    z = (square(broadcast_to(x, (3, 2)))).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    z.backward()
    np.testing.assert_array_equal(_grad(x), [6.0, 12.0])


def test_a_chain_of_views_pins_the_leaf() -> None:
    x = Variable(np.arange(6.0))
    z = square(x.reshape(2, 3).T[1:]).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    z.backward()
    np.testing.assert_array_equal(_grad(x), [0.0, 2.0, 4.0, 0.0, 8.0, 10.0])


def test_the_leaf_is_writable_again_when_the_view_graph_is_dropped() -> None:
    x = Variable(np.arange(4.0))
    z = square(x.reshape(2, 2)).sum()
    del z
    gc.collect()
    x.data[0] = 5.0
    assert x.data[0] == 5.0


def test_a_view_nothing_reads_still_cannot_see_the_leaf_change() -> None:
    # an op output never changes: the view is an output, so the leaf it shows is pinned
    x = Variable(np.arange(4.0))
    y = x.reshape(2, 2)
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    assert y.data[0, 0] == 0.0


# ------------------------------------------------------------ the base of a leaf's array
@pytest.mark.parametrize(
    "make",
    [lambda a: a.reshape(3, 1), lambda a: a[::-1], lambda a: a[1:].reshape(2, 1)[::-1]],
    ids=["reshape", "reversed", "view of a view"],
)
def test_writing_through_the_base_of_a_leafs_array_is_refused(
    make: Callable[[np.ndarray], np.ndarray],
) -> None:
    a = np.arange(3.0)
    x = Variable(make(a))
    y = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 10.0
    with pytest.raises(ValueError, match="read-only"):
        x.data[...] = 10.0
    y.backward()
    np.testing.assert_array_equal(_grad(x), 2 * make(np.arange(3.0)))


def test_the_base_is_writable_again_when_the_graph_is_dropped() -> None:
    a = np.arange(3.0)
    x = Variable(a[::-1])
    y = (x * x).sum()
    del y
    gc.collect()
    a[0] = 10.0
    x.data[0] = 7.0
    np.testing.assert_array_equal(a, [10.0, 1.0, 7.0])


def test_two_leaves_on_one_base_keep_it_pinned_until_both_graphs_go() -> None:
    a = np.arange(4.0)
    x0, x1 = Variable(a[:2]), Variable(a[2:])
    y0 = square(x0).sum()
    y1 = square(x1).sum()
    del y0
    gc.collect()
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 10.0  # y1 still reads the memory a owns
    del y1
    gc.collect()
    a[0] = 10.0
    assert x0.data[0] == 10.0


def test_a_constant_view_of_a_user_array_is_pinned_through_its_base() -> None:
    a = np.arange(3.0)
    c = Variable(a[::-1], requires_grad=False)
    x = Variable(np.ones(3))
    y = (x * c).sum()
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(_grad(x), [2.0, 1.0, 0.0])
