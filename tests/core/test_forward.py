"""Forward mode in the core (``core/forward.py``): the JVP protocol (``Function.jvp`` on
Variables, ``jvp_array`` on arrays), the checks on what a rule returns, the fallback for an
op without a rule, nested passes, and the plain call left untouched."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import ClassVar

import numpy as np
import pytest

from dezero_ext import Array, Function, MultiOutputFunction, Variable, detect_anomaly, no_grad
from dezero_ext.core.forward import DualPass, dual_pass


def _central(f: Callable[[float], Array], h: float = 1e-6) -> Array:
    """d/ds f(s) at 0."""
    return (f(h) - f(-h)) / (2 * h)


class Cube(Function):
    """x**3, with both rules; counts which rule ran."""

    calls: ClassVar[list[str]] = []

    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * x * gy

    def jvp(self, tx: Variable) -> Variable:
        Cube.calls.append("jvp")
        (x,) = self.inputs
        return 3 * x * x * tx

    def jvp_array(self, tx: Array) -> Array:
        Cube.calls.append("jvp_array")
        x = self.input_array()
        result: Array = 3 * x * x * tx
        return result


class CubeNoRule(Function):
    """x**3 with a backward only: forward mode falls back on its VJP."""

    def forward(self, x: Array) -> Array:
        return x**3

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 3 * x * x * gy


class MulNoRule(Function):
    def forward(self, x: Array, y: Array) -> Array:
        return x * y

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x, y = self.inputs
        return gy * y, gy * x


class SplitNoRule(MultiOutputFunction):
    """(x * y, x + y): two outputs, no rule."""

    def forward(self, x: Array, y: Array) -> tuple[Array, Array]:
        return x * y, x + y

    def backward(self, g0: Variable, g1: Variable) -> tuple[Variable, Variable]:
        x, y = self.inputs
        return g0 * y + g1, g0 * x + g1


def _tangent(y: Variable, dual: DualPass) -> Array:
    t = dual.tangent(y)
    assert t is not None
    return np.asarray(t._data if isinstance(t, Variable) else t)


def test_array_rule_runs_when_nothing_is_recorded() -> None:
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, -1.0])
    Cube.calls.clear()
    with no_grad(), dual_pass() as dual:
        xv = Variable(x)
        dual.seed(xv, v)
        y = Cube()(xv)
        t = _tangent(y, dual)
    np.testing.assert_allclose(t, 3 * x**2 * v)
    assert Cube.calls == ["jvp_array"]


def test_variable_rule_runs_when_the_graph_is_recorded() -> None:
    x = Variable(np.array([0.5, 2.0]))
    Cube.calls.clear()
    with dual_pass() as dual:
        dual.seed(x, np.ones(2))
        y = Cube()(x)
        t = dual.tangent(y)
    assert isinstance(t, Variable)
    np.testing.assert_allclose(t._data, 3 * x._data**2)
    assert Cube.calls == ["jvp"]
    # the tangent is differentiable: d/dx sum(3 x^2) = 6 x
    t.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad._data, 6 * x._data)


@pytest.mark.parametrize("recorded", [False, True])
def test_fallback_is_the_transpose_of_the_vjp(recorded: bool) -> None:
    x, y = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -2.0])
    tx, ty = np.array([1.0, -2.0, 0.5]), np.array([0.25, 1.0, 3.0])
    with nullcontext() if recorded else no_grad(), dual_pass() as dual:
        xv, yv = Variable(x), Variable(y)
        dual.seed(xv, tx)
        dual.seed(yv, ty)
        z = CubeNoRule()(MulNoRule()(xv, yv))
        t = _tangent(z, dual)
    np.testing.assert_allclose(t, 3 * (x * y) ** 2 * (tx * y + x * ty), rtol=1e-12)
    np.testing.assert_allclose(t, _central(lambda s: ((x + s * tx) * (y + s * ty)) ** 3), rtol=1e-6)


def test_fallback_of_a_multi_output_op_and_a_constant_input() -> None:
    x, c = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    with no_grad(), dual_pass() as dual:
        xv = Variable(x)
        dual.seed(xv, np.array([1.0, 1.0]))
        p, s = SplitNoRule()(xv, c)
        np.testing.assert_allclose(_tangent(p, dual), c)
        np.testing.assert_allclose(_tangent(s, dual), [1.0, 1.0])


def test_fallback_leaves_the_callers_gradients_alone() -> None:
    x = Variable(np.array([1.0, 2.0]))
    with dual_pass() as dual:
        dual.seed(x, np.ones(2))
        CubeNoRule()(x)
    assert x.grad is None


def test_nested_passes_do_not_confuse_their_tangents() -> None:
    """d/dx [x * d/dy (x * y)] at y: the inner tangent must not leak into the outer."""
    x0 = np.array(2.0)
    with no_grad(), dual_pass() as outer:
        x = Variable(x0)
        outer.seed(x, np.array(1.0))
        with dual_pass() as inner:
            y = Variable(np.array(3.0))
            inner.seed(y, np.array(1.0))
            z = Cube()(x) * y  # inner tangent: x**3; outer tangent: 3 x^2 y
            dz = inner.tangent(z)
        assert isinstance(dz, Variable)
        np.testing.assert_allclose(dz._data, 8.0)
        np.testing.assert_allclose(_tangent(dz, outer), 12.0)  # d/dx x**3 = 3 x^2
        np.testing.assert_allclose(_tangent(z, outer), 3 * 4.0 * 3.0)


def test_forward_over_forward_through_the_fallback() -> None:
    with no_grad(), dual_pass() as outer:
        x = Variable(np.array([1.5, -0.5]))
        outer.seed(x, np.ones(2))
        with dual_pass() as inner:
            inner.seed(x, np.ones(2))
            y = CubeNoRule()(x)
            t = inner.tangent(y)
        assert isinstance(t, Variable)
        np.testing.assert_allclose(_tangent(t, outer), 6 * x._data)


class BadShape(Function):
    def forward(self, x: Array) -> Array:
        return x * 2

    def backward(self, gy: Variable) -> Variable:
        return gy * 2

    def jvp_array(self, tx: Array) -> Array:
        return tx[:1]


class BadCount(MultiOutputFunction):
    def forward(self, x: Array) -> tuple[Array, Array]:
        return x, x

    def backward(self, g0: Variable, g1: Variable) -> Variable:
        return g0 + g1

    def jvp_array(self, tx: Array) -> Array:
        return tx


class BadType(Function):
    def forward(self, x: Array) -> Array:
        return x * 2

    def backward(self, gy: Variable) -> Variable:
        return gy * 2

    def jvp(self, tx: Variable) -> Variable:
        return tx._data * 2  # type: ignore[return-value]  # the fault under test


@pytest.mark.parametrize(
    ("op", "recorded", "error", "match"),
    [
        (BadShape, False, ValueError, r"BadShape\.jvp_array returned a tangent of shape \(1,\)"),
        (BadCount, False, ValueError, r"BadCount\.jvp_array returned 1 tangents for 2 outputs"),
        (BadType, True, TypeError, r"BadType\.jvp returned ndarray for output 0"),
    ],
)
def test_a_wrong_rule_is_named(op: type, recorded: bool, error: type, match: str) -> None:
    x = Variable(np.array([1.0, 2.0]))
    with nullcontext() if recorded else no_grad(), dual_pass() as dual:
        dual.seed(x, np.ones(2))
        with pytest.raises(error, match=match):
            op()(x)


def test_a_float32_tangent_of_a_float64_rule_is_cast() -> None:
    class Wide(Function):
        def forward(self, x: Array) -> Array:
            return x * 2

        def backward(self, gy: Variable) -> Variable:
            return gy * 2

        def jvp_array(self, tx: Array) -> Array:
            return (tx * 2).astype(np.float64)

    with no_grad(), dual_pass() as dual:
        x = Variable(np.ones(2, dtype=np.float32))
        dual.seed(x, np.ones(2, dtype=np.float32))
        y = Wide()(x)
        assert _tangent(y, dual).dtype == np.float32


def test_the_plain_call_is_restored_and_other_threads_carry_nothing() -> None:
    plain = Function.__call__
    seen: list[object] = []
    with dual_pass() as dual:
        assert Function.__call__ is not plain
        x = Variable(np.array(1.0))
        dual.seed(x, np.array(1.0))

        def other() -> None:  # another thread sees no pass of this one
            seen.append(dual.tangent(Cube()(x)))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == [None]
    assert Function.__call__ is plain
    with detect_anomaly():
        watching = Function.__call__
        with dual_pass():
            pass
        assert Function.__call__ is watching
    assert Function.__call__ is plain


def test_a_reused_instance_keeps_both_calls() -> None:
    op = Cube()
    with no_grad(), dual_pass() as dual:
        a, b = Variable(np.array(1.0)), Variable(np.array(2.0))
        dual.seed(a, np.array(1.0))
        dual.seed(b, np.array(1.0))
        ya, yb = op(a), op(b)
        np.testing.assert_allclose(_tangent(ya, dual), 3.0)
        np.testing.assert_allclose(_tangent(yb, dual), 12.0)
