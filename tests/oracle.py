"""The test suite's numerical oracle: float64 central differences, written independently of
``dezero_ext.testing`` (the project's real checker) so that the two can catch each other's bugs.

- ``numerical_grad(f, arrays)``: the gradient of a scalar function of arrays.
- ``assert_grad(op, *xs)`` / ``assert_second_order(op, *xs)``: the first derivative, and the
  derivative of the first derivative (a Hessian-vector product), against central differences.
- ``assert_gradients(op, arrays, order=2)``: both at once.
- ``assert_path_gradient(op, arrays, path)``: any order, differentiating through the inputs
  named by ``path`` in turn.
- ``assert_float32(op, arrays)``: float32 stays float32 through first and second order.
- ``first_order`` / ``second_order``: the analytic values, for comparisons with other frameworks.

``tests/testing/test_oracle.py`` shows that the oracle tells a right gradient from a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dezero_ext import Array, Variable
from dezero_ext.ops import exp

Op = Callable[..., Variable]

_STEP = float(np.cbrt(np.finfo(np.float64).eps))


def _as_float64(arrays: Sequence[Array]) -> list[Array]:
    return [np.array(a, dtype=np.float64) for a in arrays]


def _direction(shape: tuple[int, ...], rng: np.random.Generator) -> Array:
    """Random components of magnitude 0.5 to 1.5 and random sign (none so small it hides an
    error)."""
    w: Array = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return w


def numerical_grad(f: Callable[[list[Array]], float], arrays: Sequence[Array]) -> list[Array]:
    """``d f / d arrays[i]`` for every ``i`` by central differences, step
    ``cbrt(eps) * max(1, |x|)``; the arrays are not modified."""
    grads: list[Array] = []
    for i, x in enumerate(arrays):
        g = np.zeros(x.shape, dtype=np.float64)
        for idx in np.ndindex(x.shape):
            h = _STEP * max(1.0, abs(float(x[idx])))
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[i][idx] += h
            minus[i][idx] -= h
            g[idx] = (f(plus) - f(minus)) / (float(plus[i][idx]) - float(minus[i][idx]))
        grads.append(g)
    return grads


def _grads(xs: Sequence[Variable]) -> list[Array]:
    return [np.zeros(x.shape) if x.grad is None else x.grad.data for x in xs]


def first_order(op: Op, arrays: Sequence[Array], w: Array) -> list[Array]:
    """Analytic ``d sum(op(*arrays) * w) / d arrays[i]`` for every input."""
    xs = [Variable(np.array(a)) for a in arrays]
    (op(*xs) * Variable(w)).sum().backward()
    return _grads(xs)


def second_order(op: Op, arrays: Sequence[Array], w: Array, vs: Sequence[Array]) -> list[Array]:
    """Analytic ``d (sum_k g_k . v_k) / d arrays[i]`` with ``g = first_order(op, arrays, w)``:
    the gradient of the backward graph (a Hessian-vector product)."""
    xs = [Variable(np.array(a)) for a in arrays]
    (op(*xs) * Variable(w)).sum().backward(create_graph=True)
    gs = [x.grad for x in xs]
    for x in xs:
        x.cleargrad()
    terms = [(g * Variable(v)).sum() for g, v in zip(gs, vs, strict=True) if g is not None]
    if not terms:
        return [np.zeros(np.shape(a)) for a in arrays]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    if total.creator is not None:  # else the gradient does not depend on the inputs
        total.backward()
    return _grads(xs)


def _weights_for(op: Op, arrays: Sequence[Array], rng: np.random.Generator) -> Array:
    return _direction(op(*[Variable(a) for a in arrays]).shape, rng)


def assert_grad(op: Op, *xs: Array, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    """The first derivative of ``op`` at ``xs`` (float64) matches central differences."""
    arrays = _as_float64(xs)
    w = _weights_for(op, arrays, np.random.default_rng(seed))

    def value(args: list[Array]) -> float:
        return float(np.sum(op(*[Variable(a) for a in args]).data * w))

    expected = numerical_grad(value, arrays)
    for i, (g, e) in enumerate(zip(first_order(op, arrays, w), expected, strict=True)):
        np.testing.assert_allclose(
            g, e, rtol=rtol, atol=atol, err_msg=f"first derivative, input {i}"
        )


def assert_second_order(
    op: Op, *xs: Array, seed: int = 0, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """The derivative of ``<grad op, v>`` by double backward matches central differences of
    the (first-order, analytic) gradient: the backward of ``op`` is differentiable and right."""
    arrays = _as_float64(xs)
    rng = np.random.default_rng(seed)
    w = _weights_for(op, arrays, rng)
    vs = [_direction(a.shape, rng) for a in arrays]

    def directional(args: list[Array]) -> float:
        grads = first_order(op, args, w)
        return float(sum(np.sum(g * v) for g, v in zip(grads, vs, strict=True)))

    expected = numerical_grad(directional, arrays)
    analytic = second_order(op, arrays, w, vs)
    for i, (g2, e) in enumerate(zip(analytic, expected, strict=True)):
        np.testing.assert_allclose(
            g2, e, rtol=rtol, atol=atol, err_msg=f"second derivative, input {i}"
        )


def assert_gradients(
    op: Op,
    arrays: Sequence[Array],
    *,
    order: int = 2,
    rtol: float = 1e-6,
    atol: float = 1e-7,
    seed: int = 0,
) -> None:
    """``op``'s first (and, with ``order=2``, second) derivatives in float64 match central
    differences."""
    assert_grad(op, *arrays, seed=seed, rtol=rtol, atol=atol)
    if order >= 2:
        assert_second_order(op, *arrays, seed=seed, rtol=rtol, atol=atol)


def _path_scalar(
    op: Op, arrays: Sequence[Array], path: Sequence[int], seeds: Sequence[Array]
) -> tuple[Variable, list[Variable]]:
    """``s0 = sum(exp(y / 2) * seeds[0])`` of the output (the exp makes the incoming gradient
    depend on the inputs at every order), differentiated ``len(path)`` times with
    ``create_graph``: ``s(k+1) = sum(d s(k) / d inputs[path[k]] * seeds[k + 1])``."""
    xs = [Variable(a.copy()) for a in arrays]
    s = (exp(op(*xs) * 0.5) * Variable(seeds[0])).sum()
    for depth, i in enumerate(path):
        for x in xs:
            x.cleargrad()
        s.backward(create_graph=True)
        g = xs[i].grad
        assert g is not None, f"no gradient reached input {i} at order {depth + 1}"
        s = (g * Variable(seeds[depth + 1])).sum()
    for x in xs:
        x.cleargrad()
    return s, xs


def assert_path_gradient(
    op: Op,
    arrays: Sequence[Array],
    path: Sequence[int] = (),
    *,
    seed: int = 1,
    rtol: float = 1e-6,
    atol: float = 1e-7,
) -> None:
    """The gradient of order ``len(path) + 1`` of ``op`` w.r.t. every input, analytic against
    central differences of the order-``len(path)`` scalar (see ``_path_scalar``)."""
    arrays = _as_float64(arrays)
    rng = np.random.default_rng(seed)
    out_shape = op(*[Variable(a) for a in arrays]).shape
    seeds = [rng.standard_normal(out_shape)] + [rng.standard_normal(arrays[i].shape) for i in path]
    s, xs = _path_scalar(op, arrays, path, seeds)
    s.backward()
    expected = numerical_grad(
        lambda args: float(_path_scalar(op, args, path, seeds)[0].data), arrays
    )
    for j, (analytic, numeric) in enumerate(zip(_grads(xs), expected, strict=True)):
        np.testing.assert_allclose(
            analytic,
            numeric,
            rtol=rtol,
            atol=atol,
            err_msg=f"d/d(input {j}) after differentiating through inputs {list(path)}",
        )


def assert_float32(op: Op, arrays: Sequence[Array]) -> None:
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
