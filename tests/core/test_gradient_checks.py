"""Every gradient the engine receives is checked (issue 18, items 4 and 7): what an op's
``backward_array`` or ``backward`` returns, and the seed, for count, shape and dtype kind,
naming the op (or the seed) and the fix. A float gradient of another float dtype is cast to
its input's dtype, as PyTorch does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dezero_ext import Array, Function, Variable
from dezero_ext.ops import exp, square


def _grad(x: Variable) -> Array:
    assert x.grad is not None
    return x.grad.data


def _plugin(rule: Callable[[Array], object], keeps_inputs: bool = False) -> type[Function]:
    """An op computing 2x whose fast path returns ``rule(gy)``."""

    class Twice(Function):
        saves_inputs = keeps_inputs
        saves_output = False

        def forward(self, x: Array) -> Array:
            return 2 * x

        def backward(self, gy: Variable) -> Variable:
            return 2 * gy

        def backward_array(self, gy: Array) -> object:  # type: ignore[override]  # returns wrong things on purpose
            return rule(gy)

    return Twice


@pytest.mark.parametrize("keeps_inputs", [False, True])
def test_a_fast_path_gradient_of_the_wrong_shape_is_named_not_broadcast(
    keeps_inputs: bool,
) -> None:
    twice = _plugin(lambda gy: np.asarray(2.0 * gy.sum()), keeps_inputs)
    x = Variable(np.ones(3))
    y = square(twice()(x)).sum()  # square broadcasts a 0-d gradient: [6, 6, 6] unchecked
    with pytest.raises(
        ValueError,
        match=r"Twice\.backward_array returned a gradient of shape \(\) for input 0 of shape \(3,",
    ):
        y.backward()
    assert x.grad is None


def test_a_fast_path_gradient_of_the_wrong_shape_into_a_leaf_is_named() -> None:
    twice = _plugin(lambda gy: np.asarray(2.0 * gy.sum()))
    x = Variable(np.ones(3))
    with pytest.raises(ValueError, match=r"Twice\.backward_array .* shape \(\) for input 0"):
        twice()(x).sum().backward()


def test_a_complex_fast_path_gradient_is_refused() -> None:
    twice = _plugin(lambda gy: (2.0 + 1j) * gy)
    x = Variable(np.ones(3))
    with pytest.raises(TypeError, match=r"Twice\.backward_array returned .*complex128.* input 0"):
        exp(twice()(x)).sum().backward()


def test_a_variable_from_a_fast_path_is_refused() -> None:
    twice = _plugin(lambda gy: Variable(2.0 * gy))
    x = Variable(np.ones(3))
    with pytest.raises(TypeError, match=r"Twice\.backward_array returned Variable .* arrays"):
        exp(twice()(x)).sum().backward()


def test_a_float32_fast_path_gradient_for_a_float64_input_is_cast() -> None:
    twice = _plugin(lambda gy: (2.0 * gy).astype(np.float32))
    x = Variable(np.ones(3))
    exp(twice()(x)).sum().backward()
    assert _grad(x).dtype == np.float64
    np.testing.assert_allclose(_grad(x), 2 * np.exp(2.0), rtol=1e-6)


def test_numpy_scalars_for_0d_inputs_pass() -> None:
    twice = _plugin(lambda gy: np.float64(2.0) * gy)
    x = Variable(np.array(1.5))
    exp(twice()(square(x))).backward()
    assert _grad(x) == pytest.approx(2 * 2.0 * 1.5 * np.exp(2 * 1.5**2))


def test_a_backward_gradient_of_the_wrong_shape_is_named_under_create_graph() -> None:
    class Sums(Function):
        saves_inputs = saves_output = False

        def forward(self, x: Array) -> Array:
            return 2 * x

        def backward(self, gy: Variable) -> Variable:
            return 2 * gy.sum()

    x = Variable(np.ones(3))
    with pytest.raises(
        ValueError,
        match=r"Sums\.backward returned a gradient of shape \(\) for input 0 of shape \(3,\)",
    ):
        square(Sums()(x)).sum().backward(create_graph=True)


# ------------------------------------------------------------ seeds
def test_a_seed_of_the_wrong_shape_is_named() -> None:
    x = Variable(np.ones(3))
    y = x.sum()
    y.grad = Variable(np.ones(3))
    with pytest.raises(ValueError, match=r"seed .*shape \(3,\).* shape \(\)"):
        y.backward()
    assert x.grad is None


def test_a_seed_of_the_wrong_shape_on_a_leaf_is_named() -> None:
    x = Variable(np.array(1.0))
    x.grad = Variable(np.ones(3))
    with pytest.raises(ValueError, match=r"seed .*shape \(3,\).* shape \(\)"):
        x.backward()


def test_an_array_seed_is_refused_with_the_fix() -> None:
    x = Variable(np.ones(3))
    y = square(x)
    y.grad = np.ones(3)  # type: ignore[assignment]  # the mistake under test
    with pytest.raises(TypeError, match=r"seed .*ndarray.*Variable\("):
        y.backward()


def test_a_seed_of_another_output_of_a_multi_output_op_is_checked() -> None:
    from dezero_ext import MultiOutputFunction

    class Split(MultiOutputFunction):
        def forward(self, x: Array) -> tuple[Array, Array]:
            return x[:1], x[1:]

        def backward(self, g0: Variable, g1: Variable) -> Variable:
            raise AssertionError("not reached")

    x = Variable(np.ones(3))
    a, b = Split()(x)
    b.grad = Variable(np.ones(5))
    with pytest.raises(ValueError, match=r"seed .*shape \(5,\).* shape \(2,\)"):
        a.backward()


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_right_seed_still_works_and_a_float32_one_is_cast(create_graph: bool) -> None:
    x = Variable(np.array([1.0, 2.0]))
    y = square(x)
    y.grad = Variable(np.array([1.0, 3.0], dtype=np.float32))
    y.backward(create_graph=create_graph)
    assert _grad(x).dtype == np.float64
    np.testing.assert_array_equal(_grad(x), [2.0, 12.0])
