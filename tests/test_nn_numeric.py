"""Central differences in float64 for the nn-op tests (first and second order), and tests
that show this reference itself can tell a right gradient from a wrong one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from dezero_ext import Array, Function, Variable

Op = Callable[..., Variable]


def numerical_grad(f: Callable[[list[Array]], float], arrays: list[Array], i: int) -> Array:
    """``d f / d arrays[i]`` by central differences, the step about cbrt(eps) * max(1, |x|)."""
    x = arrays[i]
    grad = np.zeros(x.shape, dtype=np.float64)
    base = np.cbrt(np.finfo(np.float64).eps)
    for idx in np.ndindex(x.shape):
        orig = float(x[idx])
        h = base * max(1.0, abs(orig))
        x[idx] = orig + h
        up_x = float(x[idx])
        f_up = f(arrays)
        x[idx] = orig - h
        down_x = float(x[idx])
        f_down = f(arrays)
        x[idx] = orig
        grad[idx] = (f_up - f_down) / (up_x - down_x)
    return grad


def _grads(xs: Sequence[Variable]) -> list[Array]:
    return [np.zeros(x.shape) if x.grad is None else x.grad.data for x in xs]


def first_order(op: Op, arrays: Sequence[Array], w: Array) -> list[Array]:
    """Analytic ``d sum(op(*arrays) * w) / d arrays[i]`` for every input."""
    xs = [Variable(a) for a in arrays]
    (op(*xs) * Variable(w)).sum().backward()
    return _grads(xs)


def second_order(op: Op, arrays: Sequence[Array], w: Array, vs: Sequence[Array]) -> list[Array]:
    """Analytic ``d (sum_k g_k . v_k) / d arrays[i]`` where ``g = first_order(...)``: the
    gradient of the backward graph (a Hessian-vector product)."""
    xs = [Variable(a) for a in arrays]
    (op(*xs) * Variable(w)).sum().backward(create_graph=True)
    gs = [x.grad for x in xs]
    for x in xs:
        x.cleargrad()
    terms = [(g * Variable(v)).sum() for g, v in zip(gs, vs, strict=True) if g is not None]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    total.backward()
    return _grads(xs)


def check_gradients(
    op: Op,
    arrays: Sequence[Array],
    *,
    order: int = 2,
    rtol: float = 1e-6,
    atol: float = 1e-7,
    seed: int = 0,
) -> None:
    """Compare ``op``'s first (and second) derivatives in float64 with central differences."""
    rng = np.random.default_rng(seed)
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    w = rng.standard_normal(op(*[Variable(a) for a in arrays]).shape)

    def value(arrs: list[Array]) -> float:
        return float(np.sum(op(*[Variable(a) for a in arrs]).data * w))

    analytic = first_order(op, arrays, w)
    for i, grad in enumerate(analytic):
        numeric = numerical_grad(value, arrays, i)
        np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol, err_msg=f"input {i}")
    if order < 2:
        return
    vs = [rng.standard_normal(a.shape) for a in arrays]

    def directional(arrs: list[Array]) -> float:
        grads = first_order(op, arrs, w)
        return float(sum(np.sum(g * v) for g, v in zip(grads, vs, strict=True)))

    analytic2 = second_order(op, arrays, w, vs)
    for i, grad in enumerate(analytic2):
        numeric = numerical_grad(directional, arrays, i)
        np.testing.assert_allclose(
            grad, numeric, rtol=rtol, atol=atol, err_msg=f"second order, input {i}"
        )


def check_float32(op: Op, arrays: Sequence[Array]) -> None:
    """float32 in: float32 out, float32 gradients at first and second order."""
    xs = [Variable(np.asarray(a, dtype=np.float32)) for a in arrays]
    y = op(*xs)
    assert y.dtype == np.float32
    y.sum().backward(create_graph=True)
    gs = [x.grad for x in xs]
    for g in gs:
        assert g is not None
        assert g.dtype == np.float32
    for x in xs:
        x.cleargrad()
    total = gs[0].sum() if gs[0] is not None else None
    assert total is not None
    for g in gs[1:]:
        assert g is not None
        total = total + (g * g).sum()
    total.backward()
    for x in xs:
        assert x.grad is None or x.grad.dtype == np.float32


# ---------------------------------------------------------------------- the reference's tests
class _CubeWrongSecond(Function):
    """x**3 with a right first derivative written on constants: a wrong second derivative
    (DeZero's batch_norm mistake, in miniature)."""

    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * Variable(3 * x.data**2)


class _CubeRight(Function):
    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * 3 * x * x


def test_reference_accepts_a_right_gradient() -> None:
    check_gradients(lambda x: _CubeRight()(x), [np.array([0.5, -1.2, 2.0])])


def test_reference_rejects_a_wrong_second_derivative() -> None:
    x = np.array([0.5, -1.2, 2.0])
    check_gradients(lambda x: _CubeWrongSecond()(x), [x], order=1)
    with pytest.raises(AssertionError, match="second order"):
        check_gradients(lambda x: _CubeWrongSecond()(x), [x])


def test_numerical_grad_of_a_quadratic() -> None:
    x = np.array([1.0, -3.0, 50.0])
    grad = numerical_grad(lambda arrs: float(np.sum(arrs[0] ** 2)), [x], 0)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-6)
    np.testing.assert_array_equal(x, [1.0, -3.0, 50.0])  # the input is restored
