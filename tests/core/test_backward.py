"""The backward pass: ordering, accumulation, retain_grad, create_graph, and its edge cases."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from dezero_ext import Array, Function, MultiOutputFunction, Variable, no_grad
from dezero_ext.ops import add, exp, square


def grad_of(x: Variable) -> Array:
    assert x.grad is not None, "no gradient was set"
    return x.grad.data


def test_a_variable_used_twice_accumulates() -> None:
    x = Variable(np.array(3.0))
    y = add(x, x)
    y.backward()
    assert grad_of(x) == 2.0


def test_diamond_graph_visits_each_function_once_in_generation_order() -> None:
    x = Variable(np.array(2.0))
    a = square(x)
    y = add(square(a), square(a))  # y = 2 x^4
    y.backward()
    assert grad_of(x) == pytest.approx(8 * 2.0**3)


def test_grads_of_intermediates_are_freed_unless_retained() -> None:
    x = Variable(np.array(2.0))
    a = square(x)
    y = exp(a)
    y.backward()
    assert a.grad is None and y.grad is None
    assert x.grad is not None

    x2 = Variable(np.array(2.0))
    a2 = square(x2)
    y2 = exp(a2)
    y2.backward(retain_grad=True)
    assert a2.grad is not None and grad_of(a2) == pytest.approx(np.exp(4.0))
    assert grad_of(y2) == 1.0


def test_non_scalar_output_is_seeded_with_ones() -> None:
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = square(x)
    y.backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 4.0, 6.0])


def test_backward_on_a_leaf_gives_ones() -> None:
    x = Variable(np.ones((2, 2), dtype=np.float32))
    x.backward()
    np.testing.assert_array_equal(grad_of(x), np.ones((2, 2)))
    assert grad_of(x).dtype == np.float32


def test_backward_on_an_output_made_under_no_grad_gives_ones() -> None:
    x = Variable(np.array(2.0))
    with no_grad():
        y = square(x)
    y.backward()
    assert grad_of(y) == 1.0
    assert x.grad is None


def test_calling_backward_twice_accumulates_until_cleargrad() -> None:
    x = Variable(np.array(3.0))
    square(x).backward()
    square(x).backward()
    assert grad_of(x) == 12.0
    x.cleargrad()
    square(x).backward()
    assert grad_of(x) == 6.0


def test_second_derivative_with_create_graph() -> None:
    # DeZero step 33: y = x^4 - 2x^2, y'' = 12x^2 - 4 = 44 at x = 2
    x = Variable(np.array(2.0))
    y = x**4 - 2 * x**2
    y.backward(create_graph=True)
    gx = x.grad
    assert gx is not None and gx.data == pytest.approx(24.0)
    assert gx.creator is not None, "create_graph must record the backward computation"
    x.cleargrad()
    gx.backward()
    assert grad_of(x) == pytest.approx(44.0)


def test_without_create_graph_the_gradient_has_no_graph() -> None:
    x = Variable(np.array(2.0))
    square(square(x)).backward()
    assert x.grad is not None and x.grad.creator is None


@pytest.mark.parametrize("x0", [-0.7, 0.3, 1.1])
def test_nth_derivatives_of_exp_of_square(x0: float) -> None:
    e = np.exp(x0**2)
    expected = [
        2 * x0 * e,
        (2 + 4 * x0**2) * e,
        (12 * x0 + 8 * x0**3) * e,
        (12 + 48 * x0**2 + 16 * x0**4) * e,
    ]
    x = Variable(np.array(x0))
    y = exp(square(x))
    for want in expected:
        x.cleargrad()
        y.backward(create_graph=True)
        assert x.grad is not None
        y = x.grad
        assert y.data == pytest.approx(want, rel=1e-12)


def test_a_chain_of_100_000_ops_has_no_recursion_limit() -> None:
    x = Variable(np.array(1.0))
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    y.backward()
    assert grad_of(x) == 1.0
    assert y.data == pytest.approx(1.1)


class Split(MultiOutputFunction):
    """(x) -> (2x, 3x): two outputs."""

    def forward(self, x: Array) -> tuple[Array, Array]:
        return 2 * x, 3 * x

    def backward(self, g0: Variable, g1: Variable) -> Variable:
        return 2 * g0 + 3 * g1


def test_multi_output_function_with_both_outputs_used() -> None:
    x = Variable(np.array([1.0, 2.0]))
    a, b = Split()(x)
    (square(a) + b).backward()
    np.testing.assert_allclose(grad_of(x), 8 * x.data + 3)


def test_multi_output_function_with_an_unused_output() -> None:
    x = Variable(np.array([1.0, 2.0]))
    a, _ = Split()(x)
    square(a).backward()
    np.testing.assert_allclose(grad_of(x), 8 * x.data)


def test_multi_output_function_with_a_garbage_collected_output() -> None:
    x = Variable(np.array([1.0, 2.0]))
    outputs = Split()(x)
    b = outputs[1]
    del outputs
    gc.collect()
    (b * 1.0).backward()
    np.testing.assert_allclose(grad_of(x), [3.0, 3.0])


def test_outputs_are_weakly_referenced_so_no_reference_cycle_remains() -> None:
    gc.disable()
    try:
        x = Variable(np.ones(3))
        y = square(x)
        f = y.creator
        assert f is not None
        probe = weakref.ref(y)
        del y
        assert probe() is None, "the creator must not keep its output alive"
        assert f.inputs[0] is x
    finally:
        gc.enable()


def test_no_grad_records_nothing() -> None:
    x = Variable(np.array(2.0))
    with no_grad():
        y = square(x)
    assert y.creator is None and y.generation == 0
    assert square(x).creator is not None, "recording resumes after the block"


def test_unchain_and_unchain_backward_cut_the_graph() -> None:
    x = Variable(np.array(2.0))
    a = square(x)
    b = exp(a)
    y = square(b)
    b.unchain()
    assert b.creator is None
    y.backward()
    assert x.grad is None, "nothing flows past an unchained variable"

    x2 = Variable(np.array(2.0))
    a2 = square(x2)
    b2 = exp(a2)
    y2 = square(b2)
    y2.unchain_backward()
    assert y2.creator is not None  # the output keeps its own creator
    assert b2.creator is None and a2.creator is None


def test_generation_grows_along_the_graph() -> None:
    x = Variable(np.array(1.0))
    a = square(x)
    b = exp(a)
    y = add(a, b)
    assert (x.generation, a.generation, b.generation, y.generation) == (0, 1, 2, 3)


# ---------------------------------------------------------------- constants (requires_grad)
def test_arrays_passed_to_ops_are_constants_that_get_no_gradient() -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = x * np.array([3.0, 4.0])
    assert y.creator is not None
    constant = y.creator.inputs[1]
    assert not constant.requires_grad
    assert y.creator.needs_input_grad == (True, False)
    y.backward()
    np.testing.assert_array_equal(grad_of(x), [3.0, 4.0])
    assert constant.grad is None


def test_an_op_on_constants_only_records_nothing() -> None:
    y = square(np.array(3.0))
    assert y.creator is None
    assert not y.requires_grad
    z = square(Variable(np.array(3.0), requires_grad=False))
    assert z.creator is None


def test_a_variable_made_with_requires_grad_false_gets_no_gradient() -> None:
    x = Variable(np.array(2.0))
    w = Variable(np.array(5.0), requires_grad=False)
    (x * w + w).backward()
    assert grad_of(x) == 5.0
    assert w.grad is None


def test_outputs_under_no_grad_stay_differentiable_variables() -> None:
    # DeZero's update pattern: parameters recomputed under no_grad are used again later
    w = Variable(np.array(1.0))
    with no_grad():
        w = w - 0.5
    assert w.requires_grad
    square(w).backward()
    assert grad_of(w) == 1.0


class SkipsConstants(Function):
    """Returns None for a constant input, as backward may."""

    def forward(self, x0: Array, x1: Array) -> Array:
        return x0 * x1

    def backward(self, gy: Variable) -> tuple[Variable | None, Variable | None]:
        x0, x1 = self.inputs
        need0, need1 = self.needs_input_grad
        return (gy * x1 if need0 else None, gy * x0 if need1 else None)


class AlwaysNone(Function):
    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, gy: Variable) -> Variable:
        return None  # type: ignore[return-value]  # the bug under test


def test_backward_may_return_none_only_for_a_constant() -> None:
    x = Variable(np.array(2.0))
    SkipsConstants()(x, np.array(3.0)).backward()
    assert grad_of(x) == 3.0
    y = AlwaysNone()(Variable(np.array(1.0)))
    with pytest.raises(TypeError, match="AlwaysNone.backward returned NoneType for input 0"):
        y.backward()
