"""Regression tests for the engine faults of issue 9: each reproducer of the issue's table
gave a wrong gradient (or a misleading error) with no warning. Numbered as in the table."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import numpy as np
import pytest

from dezero_ext import Array, Function, Variable, no_grad
from dezero_ext.ops import add, exp, get_item, square
from dezero_ext.ops.basic import Square
from dezero_ext_nn import average_pooling, batch_norm, conv2d, linear, pooling


def grad_of(x: Variable) -> Array:
    assert x.grad is not None, "no gradient was set"
    return x.grad.data


# ------------------------------------------------------------ 1. a repeated index as a tuple
@pytest.mark.parametrize(
    ("shape", "index", "expected"),
    [
        ((3,), ((0, 0),), [2.0, 0.0, 0.0]),
        ((3,), (0, 0, 2), None),  # too many indices: an IndexError, checked below
        ((2, 3), (slice(None), (1, 1)), [[0.0, 2.0, 0.0], [0.0, 2.0, 0.0]]),
        ((3,), ([0, 0],), [2.0, 0.0, 0.0]),
        ((3,), (np.array([2, 2, 2]),), [0.0, 0.0, 3.0]),
    ],
)
def test_a_repeated_index_counts_every_time_whatever_its_container(
    shape: tuple[int, ...], index: tuple[object, ...], expected: list[float] | None
) -> None:
    x = Variable(np.arange(float(np.prod(shape))).reshape(shape))
    if expected is None:
        with pytest.raises(IndexError, match="get_item"):
            get_item(x, index)  # type: ignore[arg-type]  # a tuple of tuples, as NumPy takes
        return
    y = get_item(x, index)  # type: ignore[arg-type]  # a tuple of tuples, as NumPy takes
    np.testing.assert_array_equal(y.data, x.data[index])  # type: ignore[index]  # NumPy's index
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), expected)


# ------------------------------------------------------------ 2. one Function instance twice
def test_a_function_instance_called_twice_gives_both_gradients() -> None:
    x1, x2 = Variable(np.array(3.0)), Variable(np.array(5.0))
    f = Square()
    a = f(x1)
    b = f(x2)
    (a + b).backward()
    assert grad_of(x1) == 6.0
    assert grad_of(x2) == 10.0
    assert a.creator is f, "the first call is recorded by the instance itself"
    assert b.creator is not f and type(b.creator) is Square, "the second by a copy of it"


class Remembers(Function):
    """Keeps a value computed in forward on the instance, as DeZero's ops do."""

    def forward(self, x: Array) -> Array:
        self.twice_x = 2 * x
        return x**2

    def backward(self, gy: Variable) -> Variable:
        return gy * Variable(self.twice_x)


def test_a_reused_instance_keeps_each_calls_forward_state() -> None:
    x1, x2 = Variable(np.array(3.0)), Variable(np.array(5.0))
    f = Remembers()
    a = f(x1)
    with no_grad():
        f(Variable(np.array(100.0)))  # a call that records nothing must not disturb a either
    b = f(x2)
    (a + b).backward()
    assert grad_of(x1) == 6.0
    assert grad_of(x2) == 10.0


# ------------------------------------------------------------ 3. one gradient per call
def test_each_backward_call_adds_exactly_one_gradient() -> None:
    x = Variable(np.array(2.0))
    y = exp(square(x))  # a chain: the intermediate's retained gradient must not feed back
    one = 2 * 2.0 * np.exp(4.0)
    for calls in (1, 2, 3):
        y.backward(retain_grad=True)
        assert grad_of(x) == pytest.approx(calls * one)
    assert grad_of(y) == 1.0, "the output's gradient is the seed, not a running sum"


def test_a_retained_intermediate_gradient_accumulates_one_per_call() -> None:
    x = Variable(np.array(2.0))
    a = square(x)
    y = exp(a)
    y.backward(retain_grad=True)
    y.backward(retain_grad=True)
    assert grad_of(a) == pytest.approx(2 * np.exp(4.0))


def test_a_backward_without_retain_grad_after_one_with_it_adds_one_gradient() -> None:
    x = Variable(np.array(2.0))
    y = exp(square(x))
    y.backward(retain_grad=True)
    y.backward()
    assert grad_of(x) == pytest.approx(2 * 4.0 * np.exp(4.0))


# ------------------------------------------------------------ 4. threads
def test_accumulation_into_a_shared_leaf_loses_no_update_under_threads() -> None:
    x = Variable(np.array(3.0))
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(2000):
            square(x).backward()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert grad_of(x) == 4 * 2000 * 6.0


# ------------------------------------------------------------ 5. data a graph needs
def test_editing_a_leaf_in_place_before_backward_is_refused_where_it_happens() -> None:
    x = Variable(np.array(1.0))
    y = square(x)
    with pytest.raises(ValueError, match="read-only"):
        x.data[...] = 5
    y.backward()
    assert grad_of(x) == 2.0


def test_editing_a_leaf_in_place_after_backward_is_an_error_at_the_next_backward() -> None:
    x = Variable(np.array(1.0))
    y = square(x)
    y.backward()
    x.data[...] = 5  # allowed: x gets its own copy (copy-on-write), the graph keeps the old
    x.cleargrad()
    with pytest.raises(RuntimeError, match=r"square: input 0 .* changed after the graph"):
        y.backward()
    assert x.grad is None, "a failed pass sets no gradient"
    assert square(x).data == 25.0, "a new graph sees the new data"


def test_the_wrapped_array_is_read_only_while_a_graph_may_need_it() -> None:
    a = np.array([1.0, 2.0])
    x = Variable(a)
    y = square(x)
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 5.0
    y.backward()
    np.testing.assert_array_equal(grad_of(x), [2.0, 4.0])


def test_editing_an_op_output_in_place_is_refused() -> None:
    x = Variable(np.array(1.0))
    e = exp(x)
    y = square(e)
    with pytest.raises(ValueError, match="read-only"):
        e.data[...] = 5
    with pytest.raises(ValueError, match="read-only"):
        e.data += 1
    y.backward()
    assert grad_of(x) == pytest.approx(2 * np.exp(2.0))


def test_assigning_the_data_of_an_op_output_is_refused() -> None:
    x = Variable(np.array(1.0))
    e = exp(x)
    with pytest.raises(AttributeError, match=r"exp.*Variable\(new_array\)"):
        e.data = np.array(5.0)


def test_reading_data_between_forward_and_backward_is_fine() -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = square(x)
    seen = x.data.copy()
    x.data.sum()
    y.backward()
    np.testing.assert_array_equal(grad_of(x), 2 * seen)
    y.backward()
    np.testing.assert_array_equal(grad_of(x), 4 * seen)


def test_the_book_update_after_backward_works_and_the_old_graph_is_then_refused() -> None:
    # DeZero steps 28 and 42: x.data -= lr * x.grad.data after y.backward()
    x = Variable(np.array(2.0))
    y = square(x)
    for _ in range(3):
        x.cleargrad()
        y = square(x)
        y.backward()
        x.data -= 0.25 * grad_of(x)
    assert x.data == pytest.approx(2.0 * 0.5**3)
    with pytest.raises(RuntimeError, match="changed after the graph"):
        y.backward()  # the graph of the last step saw the data before the update


def test_rebinding_data_after_recording_is_an_error_at_backward() -> None:
    x = Variable(np.array(1.0))
    y = square(x)
    x.data = np.array(5.0)
    with pytest.raises(RuntimeError, match="changed after the graph"):
        y.backward()
    x.data = np.array(1.0)  # the same values as when recorded: nothing to refuse
    y.backward()
    assert grad_of(x) == 2.0


def test_an_array_rebound_into_data_is_validated() -> None:
    x = Variable(np.array(1.0))
    x.data = np.array(3)
    assert x.data.dtype == np.float64
    with pytest.raises(TypeError, match=r"x\.grad\.data"):
        x.data = x  # type: ignore[assignment]  # x.data -= lr * x.grad (a Variable)
    with pytest.raises(TypeError, match="dtype bool"):
        x.data = np.array(True)


def test_data_stays_writable_when_no_graph_needs_it() -> None:
    a = np.array([1.0, 2.0])
    x = Variable(a)
    x.data[0] = 3.0
    assert a[0] == 3.0, "without a graph, data is the array given"
    with no_grad():
        square(x)
    a[1] = 4.0
    np.testing.assert_array_equal(x.data, [3.0, 4.0])


# ------------------------------------------------------------ 6. a failed pass
class FailsOnce(Function):
    calls = 0

    def forward(self, x: Array) -> Array:
        return 3 * x

    def backward(self, gy: Variable) -> Variable:
        FailsOnce.calls += 1
        if FailsOnce.calls == 1:
            raise ArithmeticError("transient")
        return 3 * gy


def test_a_failed_backward_leaves_no_stale_gradient() -> None:
    FailsOnce.calls = 0
    x = Variable(np.array(2.0))
    w = Variable(np.array(5.0))
    a = square(x)  # 4
    y = FailsOnce()(a) + a * w  # dy/da = 3 + w = 8, dy/dx = 8 * 2x = 32, dy/dw = a = 4
    with pytest.raises(ArithmeticError):
        y.backward()
    assert (x.grad, w.grad, a.grad, y.grad) == (None, None, None, None)
    y.backward()
    assert grad_of(x) == 32.0
    assert grad_of(w) == 4.0


# ------------------------------------------------------------ 7 and 8. independent gradients
def test_gradients_of_different_inputs_are_independent_arrays() -> None:
    a, b = Variable(np.array([1.0, 2.0])), Variable(np.array([3.0, 4.0]))
    y = a + b
    y.backward(retain_grad=True)
    assert a.grad is not b.grad
    grads = [grad_of(a), grad_of(b), grad_of(y)]
    for i, g in enumerate(grads):
        for other in grads[i + 1 :]:
            assert not np.shares_memory(g, other)
    grad_of(a)[...] = 7.0
    np.testing.assert_array_equal(grad_of(b), [1.0, 1.0])
    np.testing.assert_array_equal(grad_of(y), [1.0, 1.0])


def test_gradient_views_of_one_array_are_made_independent() -> None:
    a, b = Variable(np.ones((2, 2))), Variable(np.ones(4))
    (a.reshape(4) + b).backward()
    assert not np.shares_memory(grad_of(a), grad_of(b))


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.sum(),
        lambda x: x.mean(),
        lambda x: x.sum(axis=0),
        lambda x: x[0] + x[1],
        lambda x: x.T,
        lambda x: x.reshape(6),
    ],
    ids=["sum", "mean", "sum-axis", "index", "transpose", "reshape"],
)
def test_gradients_are_writable_arrays(make: object) -> None:
    x = Variable(np.arange(6.0).reshape(2, 3))
    make(x).backward()  # type: ignore[operator]  # a lambda of the parametrization
    g = grad_of(x)
    before = g.copy()
    g *= 0.5
    np.testing.assert_array_equal(g, before * 0.5)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("retain_grad", [False, True])
@pytest.mark.parametrize(
    "make",
    [lambda x: x, lambda x: x + 0.0, lambda x: x * 2.0, lambda x: (x * x).sum()],
    ids=["leaf", "pass-through", "scale", "square-sum"],
)
def test_gradients_made_from_the_engines_seed_are_writable(
    make: object, retain_grad: bool, create_graph: bool
) -> None:
    """The engine's own seed (ones) is frozen when nothing hands it out, so a gradient graph
    recorded on it need not pin it; every gradient given out is still a writable array."""
    x = Variable(np.array([1.0, 2.0]))
    y = make(x)  # type: ignore[operator]  # a lambda of the parametrization
    y.backward(retain_grad=retain_grad, create_graph=create_graph)
    assert x.grad is not None
    if create_graph and x.grad.creator is not None:
        # a recorded gradient is an op output, read-only as every op output (documented);
        # its graph reads the seed, and differentiating it again still works
        x.grad.sum().backward()
        return
    for v in (x, y):
        if v.grad is not None:
            g = v.grad.data
            g *= 1.0  # raises on a read-only array


def test_the_data_of_a_seed_a_gradient_graph_reads_cannot_be_swapped() -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = square(x)  # its gradient 2 * x * gy reads the seed gy
    y.backward(create_graph=True)
    assert x.grad is not None and x.grad.creator is not None
    seed = next(
        v
        for f in [x.grad.creator]
        for v in f.input_nodes()
        if isinstance(v, Variable) and v.creator is None and v is not x
    )
    with pytest.raises(AttributeError, match="seed"):
        seed.data = np.zeros(2)
    with pytest.raises(ValueError, match="read-only"):
        seed.data[0] = 5.0


def test_a_gradient_is_never_the_seed_the_user_gave() -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = x + 0.0  # its backward passes the seed through
    seed = Variable(np.array([3.0, 4.0]))
    y.grad = seed
    y.backward()
    assert x.grad is not seed and not np.shares_memory(grad_of(x), seed.data)


# ------------------------------------------------------------ 9. array subclasses
@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: np.matrix([[1.0, 2.0], [3.0, 4.0]]), "numpy.matrix"),
        (lambda: np.ma.masked_array([1.0, 2.0], mask=[False, True]), "masked array"),
    ],
    ids=["matrix", "masked"],
)
def test_array_subclasses_with_other_semantics_are_refused(
    make: Callable[[], Array], named: str
) -> None:
    data = make()
    with pytest.raises(TypeError, match=named):
        Variable(data)
    with pytest.raises(TypeError, match=named):
        square(data)
    x = Variable(np.ones((2, 2)))
    with pytest.raises(TypeError, match=named):
        x.data = data


# ------------------------------------------------------------ 10. empty batches
@pytest.mark.parametrize(
    ("x_shape", "w_shape"),
    [((0, 3, 5, 5), (2, 3, 3, 3)), ((2, 0, 5, 5), (2, 0, 3, 3)), ((2, 3, 5, 5), (0, 3, 3, 3))],
    ids=["batch-0", "channels-0", "filters-0"],
)
def test_conv2d_of_an_empty_batch_works_both_ways(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...]
) -> None:
    x, w = Variable(np.ones(x_shape)), Variable(np.ones(w_shape))
    y = conv2d(x, w)
    assert y.shape == (x_shape[0], w_shape[0], 3, 3)
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), np.zeros(x_shape))
    expected_gw = np.full(w_shape, float(x_shape[0] * 9))  # every window of ones, summed
    np.testing.assert_array_equal(grad_of(w), expected_gw)


@pytest.mark.parametrize("x_shape", [(0, 3, 4, 4), (2, 0, 4, 4)], ids=["batch-0", "channels-0"])
@pytest.mark.parametrize("pool", [average_pooling, pooling], ids=["average", "max"])
def test_pooling_of_an_empty_batch_works_both_ways(x_shape: tuple[int, ...], pool: object) -> None:
    x = Variable(np.ones(x_shape))
    y = pool(x, 2, stride=2)  # type: ignore[operator]  # one of the two pooling functions
    assert y.shape == (*x_shape[:2], 2, 2)
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), np.zeros(x_shape))


def test_linear_with_no_input_features_works_both_ways() -> None:
    x, w, b = Variable(np.ones((4, 0))), Variable(np.ones((0, 3))), Variable(np.ones(3))
    y = linear(x, w, b)
    np.testing.assert_array_equal(y.data, np.ones((4, 3)))
    y.sum().backward()
    assert grad_of(x).shape == (4, 0) and grad_of(w).shape == (0, 3)
    np.testing.assert_array_equal(grad_of(b), [4.0, 4.0, 4.0])


# ------------------------------------------------------------ 11. batch_norm's running stats
def test_batch_norm_changes_no_statistic_when_one_cannot_be_updated() -> None:
    x, gamma, beta = np.random.default_rng(0).random((4, 2)), np.ones(2), np.zeros(2)
    running_mean, running_var = np.zeros(2), np.ones(2)
    running_var.flags.writeable = False
    with pytest.raises(ValueError, match="running_var is read-only"):
        batch_norm(x, gamma, beta, running_mean, running_var)
    np.testing.assert_array_equal(running_mean, [0.0, 0.0])


def test_batch_norm_refuses_one_array_for_both_statistics() -> None:
    x, gamma, beta = np.random.default_rng(0).random((4, 2)), np.ones(2), np.zeros(2)
    stats = np.zeros(2)
    with pytest.raises(ValueError, match="share memory"):
        batch_norm(x, gamma, beta, stats, stats)
    np.testing.assert_array_equal(stats, [0.0, 0.0])


# ------------------------------------------------------------ 12. create_graph's cycle
def test_create_graph_makes_the_documented_cycle_that_cleargrad_breaks() -> None:
    gc.disable()
    try:
        x = Variable(np.array(2.0))
        square(square(x)).backward(create_graph=True)
        assert x.grad is not None and x.grad.creator is not None
        probe = weakref.ref(x)
        del x
        assert probe() is not None, "x -> x.grad -> its creator -> ... -> x: a cycle"
        gc.collect()
        assert probe() is None, "the garbage collector frees it"

        x = Variable(np.array(2.0))
        square(square(x)).backward(create_graph=True)
        x.cleargrad()
        probe = weakref.ref(x)
        del x
        assert probe() is None, "after cleargrad, reference counting alone frees it"
    finally:
        gc.enable()


def test_without_create_graph_the_graph_is_freed_by_reference_counting() -> None:
    gc.disable()
    try:
        x = Variable(np.array(2.0))
        y = add(square(x), exp(x))
        y.backward()
        assert y.creator is not None
        probes: list[Callable[[], object]] = [
            weakref.ref(x),
            weakref.ref(y),
            weakref.ref(y.creator),
        ]
        del x, y
        assert [p() for p in probes] == [None, None, None]
    finally:
        gc.enable()


# ---------------------------------------------------------------- found by the engine model
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_float32_leaf_added_to_float64_gets_a_float32_gradient(create_graph: bool) -> None:
    # add keeps no inputs (saves_inputs = False): its gradient comes out float64; the leaf's
    # gradient is cast, in the graph under create_graph (this raised a TypeError there)
    x = Variable(np.array([0.5, -1.0], np.float32))
    c = Variable(np.array([1.0, 2.0]))
    y = square(x + c)
    y.backward(create_graph=create_graph)
    assert x.grad is not None and x.grad.dtype == np.float32 and c.grad is not None
    assert c.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, 2 * (x.data + c.data), rtol=1e-6)
    if create_graph:
        gx = x.grad
        x.cleargrad()
        gx.sum().backward()  # d/dx sum(2 (x + c)) = 2, through the cast
        assert x.grad is not None and x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad.data, [2.0, 2.0])


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_retained_float32_intermediate_keeps_its_dtype(create_graph: bool) -> None:
    x = Variable(np.array([0.5, -1.0], np.float32))
    h = square(x)  # float32
    y = h + Variable(np.array([1.0, 2.0]))  # float64; add sends h a float64 gradient
    y.backward(retain_grad=True, create_graph=create_graph)
    assert h.grad is not None and h.grad.dtype == np.float32
    assert x.grad is not None and x.grad.dtype == np.float32
    np.testing.assert_allclose(h.grad.data, [1.0, 1.0])


def test_a_graph_freed_after_the_guard_module_is_cleared_raises_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At interpreter exit a graph still alive (a create_graph gradient's cycle) is freed
    after the modules' globals are set to None; its leaf guards must still release their
    pins without an "Exception ignored in LeafGuard.__del__" on stderr."""
    import sys

    from dezero_ext.core import guard

    x = Variable(np.array([0.5, 1.0]))
    y = square(x)  # pins x
    raised: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: raised.append(u.exc_value))
    for name in ("_LOCK", "_PINS", "_unpin"):  # what finalization does to the module
        monkeypatch.setattr(guard, name, None, raising=False)
    del y
    gc.collect()
    assert raised == []
    assert x.data.flags.writeable  # the pin was released: the leaf is writable again
