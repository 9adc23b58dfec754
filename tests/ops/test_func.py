"""``dezero_ext.func``: grad, value_and_grad, vjp, jvp, jacobian (both modes) and hessian,
against closed forms; nesting; no graph and no ``grad`` leaks to the caller."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from mypy import api as mypy_api

from dezero_ext import Variable, as_variable
from dezero_ext import func as F  # noqa: N812  # torch.func's usual alias
from dezero_ext.ops import exp

X = np.array([0.5, -1.25, 2.0])
V = np.array([1.0, 0.5, -2.0])


def cubes(x: Variable) -> Variable:
    return (x**3).sum()


def mixed(x: Variable, w: Variable) -> Variable:
    return (exp(-x) * w + exp(x * w)).sum()


def vector(x: Variable) -> Variable:
    return exp(-x) * x[::-1]


def test_grad_and_value_and_grad() -> None:
    np.testing.assert_allclose(F.grad(cubes)(X), 3 * X**2)
    value, g = F.value_and_grad(cubes)(X)
    np.testing.assert_allclose(value, (X**3).sum())
    np.testing.assert_allclose(g, 3 * X**2)
    assert isinstance(g, np.ndarray) and isinstance(value, np.ndarray)


def test_argnums() -> None:
    w = np.array([2.0, 1.0, -0.5])
    gx, gw = F.grad(mixed, argnums=(0, 1))(X, w)
    np.testing.assert_allclose(gx, -np.exp(-X) * w + w * np.exp(X * w))
    np.testing.assert_allclose(gw, np.exp(-X) + X * np.exp(X * w))
    np.testing.assert_allclose(F.grad(mixed, argnums=1)(X, w), gw)
    np.testing.assert_allclose(F.grad(mixed, argnums=-1)(X, w), gw)
    with pytest.raises(ValueError, match="argnums 2 names no positional argument"):
        F.grad(mixed, argnums=2)(X, w)


def test_vjp_and_jvp() -> None:
    y, pull = F.vjp(vector, X)
    np.testing.assert_allclose(y, np.exp(-X) * X[::-1])
    jac = np.array([[_d(i, j) for j in range(3)] for i in range(3)])
    (g,) = pull(V)
    np.testing.assert_allclose(g, V @ jac)
    np.testing.assert_allclose(pull(2 * V)[0], 2 * V @ jac)  # again, another cotangent
    out, t = F.jvp(vector, (X,), (V,))
    np.testing.assert_allclose(out, y)
    np.testing.assert_allclose(t, jac @ V)


def _d(i: int, j: int) -> float:
    """d(exp(-x_i) x_{n-1-i})/dx_j."""
    n = len(X)
    value = 0.0
    if j == i:
        value += -np.exp(-X[i]) * X[n - 1 - i]
    if j == n - 1 - i:
        value += np.exp(-X[i])
    return float(value)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian(mode: str) -> None:
    jac = F.jacobian(vector, mode=mode)(X)  # type: ignore[call-overload]  # parametrized
    expected = np.array([[_d(i, j) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(jac, expected, rtol=1e-12)
    m = np.arange(6.0).reshape(2, 3) / 7
    jm = F.jacobian(lambda a: a * a, mode=mode)(m)  # type: ignore[call-overload]  # parametrized
    assert jm.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(jm.reshape(6, 6), np.diag(2 * m.ravel()))


def quartic(x: Variable) -> Variable:
    return (x**4).sum()


def test_hessian_and_nesting() -> None:
    w = np.array([2.0, 1.0, -0.5])
    want = np.diag(np.exp(-X) * w + w * w * np.exp(X * w))
    np.testing.assert_allclose(F.hessian(mixed)(X, w), want, atol=1e-12)
    np.testing.assert_allclose(F.hessian(mixed, mode="fwd")(X, w), want, atol=1e-12)
    with pytest.raises(ValueError, match="hessian: mode must be 'rev' or 'fwd', got 'both'"):
        F.hessian(mixed, mode="both")  # type: ignore[arg-type]  # the error a typo gets
    # a Hessian inside grad: reverse over (either mode) over reverse, d/dx sum H = 24 x
    for mode in ("rev", "fwd"):

        def trace_of(x: Variable, mode: str = mode) -> Variable:
            return as_variable(F.hessian(quartic, mode=mode)(x)).sum()  # type: ignore[arg-type]  # loop variable

        np.testing.assert_allclose(F.grad(trace_of)(X), 24 * X, atol=1e-12)

    # grad of grad, and reverse over forward
    # (inside a transform a transformed function returns Variables: as_variable types them)
    def grad_sum(x: Variable) -> Variable:
        return as_variable(F.grad(cubes)(x)).sum()

    np.testing.assert_allclose(F.grad(grad_sum)(X), 6 * X)

    def directional(x: Variable) -> Variable:
        return as_variable(F.jvp(cubes, (x,), (V,))[1])

    np.testing.assert_allclose(F.grad(directional)(X), 6 * X * V)
    # forward over forward
    second = F.jvp(directional, (X,), (V,))[1]
    np.testing.assert_allclose(second, (6 * X * V * V).sum())


def test_no_graph_and_no_grad_leak_to_the_caller() -> None:
    w = Variable(np.array([2.0, 1.0, -0.5]))
    x = Variable(X.copy())

    def bound(x: Variable) -> Variable:
        return mixed(x, w)

    g = F.grad(bound)(x)
    assert isinstance(g, np.ndarray) and g.flags.writeable
    assert w.grad is None and x.grad is None
    data = X.copy()
    F.hessian(cubes)(data)
    data[0] = 7.0  # the caller's array stays writable
    _, pull = F.vjp(bound, X)
    pull(np.array(1.0))
    assert w.grad is None


def pair(x: Variable) -> tuple[Variable, Variable]:
    return x * x, exp(x).sum()


def test_tuple_outputs_give_tuples() -> None:
    """As torch.func: a function returning a tuple gets tuples back from vjp (outputs, and
    vjp_fn takes one cotangent per output), jvp and jacobian (one Jacobian per output)."""
    (square, total), pull = F.vjp(pair, X)
    np.testing.assert_allclose(square, X * X)
    np.testing.assert_allclose(total, np.exp(X).sum())
    (gx,) = pull((V, np.array(2.0)))
    np.testing.assert_allclose(gx, 2 * X * V + 2.0 * np.exp(X))
    outs, tangents = F.jvp(pair, (X,), (V,))
    np.testing.assert_allclose(outs[0], X * X)
    np.testing.assert_allclose(tangents[0], 2 * X * V)
    np.testing.assert_allclose(tangents[1], (np.exp(X) * V).sum())
    for mode in ("rev", "fwd"):
        j_square, j_total = F.jacobian(pair, mode="rev" if mode == "rev" else "fwd")(X)
        np.testing.assert_allclose(j_square, np.diag(2 * X))
        np.testing.assert_allclose(j_total, np.exp(X))
    with pytest.raises(
        ValueError, match="vjp: the function returned 2 outputs; give vjp_fn a tuple"
    ):
        pull(V)  # type: ignore[arg-type]  # wrong on purpose: one cotangent for two outputs


def test_errors_name_the_transform() -> None:
    with pytest.raises(ValueError, match=r"grad: the function returned a Variable of shape \(3,\)"):
        F.grad(vector)(X)
    with pytest.raises(TypeError, match="jvp: the function returned ndarray, not a Variable"):
        F.jvp(lambda x: np.ones(2), (X,), (V,))  # type: ignore[arg-type, return-value]  # wrong on purpose
    with pytest.raises(TypeError, match=r"jvp: primals and tangents are tuples"):
        F.jvp(cubes, X, V)  # type: ignore[call-overload]  # wrong on purpose
    with pytest.raises(ValueError, match="tangent of shape"):
        F.jvp(cubes, (X,), (np.ones(2),))
    with pytest.raises(ValueError, match="mode must be 'rev' or 'fwd'"):
        F.jacobian(cubes, mode="both")  # type: ignore[call-overload]  # wrong on purpose


def test_typed_for_users(tmp_path: Path) -> None:
    """mypy --strict on a user's code: arrays in, arrays out, argnums' tuple form a tuple,
    and mistakes caught."""
    path = tmp_path / "sample.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from dezero_ext import Variable, func

            def f(x: Variable) -> Variable:
                return (x**3).sum()

            def h(x: Variable, w: Variable) -> Variable:
                return (x * w).sum()

            x = np.ones(3)
            reveal_type(func.grad(f)(x))
            reveal_type(func.grad(h, argnums=(0, 1))(x, x))
            reveal_type(func.value_and_grad(f)(x))
            reveal_type(func.jvp(f, (x,), (x,)))
            reveal_type(func.hessian(f)(x))
            func.grad(f)("a")
            bad: int = func.grad(f)(x)
            """
        )
    )
    root = Path(__file__).resolve().parents[2]
    out, err, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--config-file", str(root / "mypy.ini"), str(path)]
    )
    revealed = [line for line in out.splitlines() if "Revealed type" in line]
    assert len(revealed) == 5, out + err
    assert all("numpy.ndarray" in line for line in revealed), revealed
    assert "tuple[numpy.ndarray" in revealed[1] and revealed[1].endswith(', ...]"')
    assert 'Argument 1 has incompatible type "str"' in out
    assert "Incompatible types in assignment" in out
    assert out.count("error:") == 2, out
