"""Float64 central differences for the op tests (first and second order), and tests of them.

The op tests (``test_builtin_ops*.py``, ``test_math_*.py``) import ``assert_grad`` and
``assert_second_order`` from here. ``dezero_ext.testing`` is the project's real checker; these
helpers are deliberately tiny and independent of it, so the two can catch each other's bugs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from dezero_ext import Array, Variable

Op = Callable[..., Variable]

_EPS = float(np.finfo(np.float64).eps)


def _weights(shape: tuple[int, ...], rng: np.random.Generator) -> Array:
    w: Array = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return w


def numerical_grad(f: Callable[[Sequence[Array]], float], xs: Sequence[Array]) -> list[Array]:
    """Central differences of the scalar ``f`` at ``xs``, step ``cbrt(eps) * max(1, |x|)``."""
    grads: list[Array] = []
    for i, x in enumerate(xs):
        g = np.zeros_like(x, dtype=np.float64)
        for idx in np.ndindex(x.shape):
            h = np.cbrt(_EPS) * max(1.0, abs(float(x[idx])))
            plus = [a.copy() for a in xs]
            minus = [a.copy() for a in xs]
            plus[i][idx] += h
            minus[i][idx] -= h
            g[idx] = (f(plus) - f(minus)) / (2 * h)
        grads.append(g)
    return grads


def analytic_grad(
    op: Op, xs: Sequence[Array], weights: Array, *, create_graph: bool = False
) -> tuple[list[Variable], list[Variable]]:
    """``d sum(weights * op(*xs)) / d xs`` by backward; returns (inputs, gradients)."""
    vs = [Variable(np.array(x, dtype=np.float64)) for x in xs]
    y = op(*vs)
    assert y.shape == weights.shape, f"output shape {y.shape}, expected {weights.shape}"
    y.grad = Variable(weights.copy())
    y.backward(create_graph=create_graph)
    grads = [v.grad if v.grad is not None else Variable(np.zeros_like(v.data)) for v in vs]
    return vs, grads


def assert_grad(op: Op, *xs: Array, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    """The first derivative of ``op`` at ``xs`` (float64) matches central differences."""
    arrays = [np.array(x, dtype=np.float64) for x in xs]
    rng = np.random.default_rng(seed)
    out_shape = op(*[Variable(a) for a in arrays]).shape
    w = _weights(out_shape, rng)

    def loss(args: Sequence[Array]) -> float:
        return float(np.sum(op(*[Variable(a) for a in args]).data * w))

    _, grads = analytic_grad(op, arrays, w)
    expected = numerical_grad(loss, arrays)
    for i, (gv, e) in enumerate(zip(grads, expected, strict=True)):
        np.testing.assert_allclose(
            gv.data, e, rtol=rtol, atol=atol, err_msg=f"first derivative, input {i}"
        )


def assert_second_order(
    op: Op, *xs: Array, seed: int = 0, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """The derivative of ``<grad op, v>`` by double backward matches central differences of
    the (first-order, analytic) gradient: the backward of ``op`` is differentiable and right."""
    arrays = [np.array(x, dtype=np.float64) for x in xs]
    rng = np.random.default_rng(seed)
    out_shape = op(*[Variable(a) for a in arrays]).shape
    w = _weights(out_shape, rng)
    vs_dir = [_weights(a.shape, rng) for a in arrays]

    def directional(args: Sequence[Array]) -> float:
        _, grads = analytic_grad(op, args, w)
        return float(sum(np.sum(g.data * v) for g, v in zip(grads, vs_dir, strict=True)))

    inputs, grads = analytic_grad(op, arrays, w, create_graph=True)
    for x in inputs:
        x.cleargrad()
    total: Variable | None = None
    for g, v in zip(grads, vs_dir, strict=True):
        term = (g * v).sum()
        total = term if total is None else total + term
    assert total is not None
    if total.creator is None:  # the gradient does not depend on the inputs: zero curvature
        second = [np.zeros_like(a) for a in arrays]
    else:
        total.backward()
        second = [x.grad.data if x.grad is not None else np.zeros_like(x.data) for x in inputs]
    expected = numerical_grad(directional, arrays)
    for i, (g2, e) in enumerate(zip(second, expected, strict=True)):
        np.testing.assert_allclose(
            g2, e, rtol=rtol, atol=atol, err_msg=f"second derivative, input {i}"
        )


# ---------------------------------------------------------------------- the helpers can fail
class _WrongSquare:
    """A square whose backward forgets the factor 2 (for the helpers' own tests)."""

    def __call__(self, x: Variable) -> Variable:
        from dezero_ext import Function

        class Wrong(Function):
            def forward(self, a: Array) -> Array:
                return a * a

            def backward(self, gy: Variable) -> Variable:
                return gy * self.inputs[0]

        return Wrong()(x)


class _WrongSecond:
    """``x**3`` whose backward is right in value but built from a constant (wrong 2nd order)."""

    def __call__(self, x: Variable) -> Variable:
        from dezero_ext import Function

        class Wrong(Function):
            def forward(self, a: Array) -> Array:
                return a**3

            def backward(self, gy: Variable) -> Variable:
                return gy * Variable(3 * self.inputs[0].data ** 2)

        return Wrong()(x)


def test_assert_grad_catches_a_wrong_first_derivative() -> None:
    with pytest.raises(AssertionError, match="first derivative"):
        assert_grad(_WrongSquare(), np.array([0.5, -1.5]))


def test_assert_second_order_catches_a_wrong_second_derivative() -> None:
    x = np.array([0.5, -1.5])
    assert_grad(_WrongSecond(), x)  # first order is right
    with pytest.raises(AssertionError, match="second derivative"):
        assert_second_order(_WrongSecond(), x)


def test_helpers_accept_right_derivatives() -> None:
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    assert_grad(lambda v: v * v * v, x)
    assert_second_order(lambda v: v * v * v, x)
