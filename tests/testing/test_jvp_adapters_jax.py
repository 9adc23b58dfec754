"""The JAX adapter checks a ``jax.custom_jvp`` rule against JAX's VJP (the transpose of the
rule) by the transpose identity and against central differences: a right rule passes; a wrong
rule makes both sides wrong alike and is named as the rule; a right rule whose VJP is wrong
(a primitive with a right JVP and a wrong transpose rule, as a JAX extension defines them) is
caught and named as the VJP; a ``custom_vjp`` function has no forward mode to prove."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain
from dezero_ext.testing import CheckOptions

jax: Any = pytest.importorskip("jax")

from dezero_ext.testing.adapters.jax import jax_target  # noqa: E402
from dezero_ext.testing.jvpcheck import JvpCheckError, check_target_jvp  # noqa: E402
from dezero_ext.testing.runner import jvp_test  # noqa: E402

jnp = jax.numpy
X = [np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]])]


@jax.custom_jvp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def cube(x: Any) -> Any:
    return x**3


@cube.defjvp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def _cube_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (tx,) = primals, tangents
    return cube(x), 3 * x * x * tx


@jax.custom_jvp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def wrong_cube(x: Any) -> Any:
    return x**3


@wrong_cube.defjvp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def _wrong_cube_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (tx,) = primals, tangents
    return wrong_cube(x), 3 * x * tx  # fault: x, not x**2


def _scale_primitive() -> Any:
    """``scale(t, s) = t * s``, linear in ``t``, with a wrong transpose rule (``2/3 s``)."""
    # through importlib: jax is untyped here (Any), as in the rest of this file
    try:  # jax.extend.core.Primitive in JAX 0.4.36 and later; jax.core's before
        core: Any = importlib.import_module("jax.extend.core")
        core.Primitive  # noqa: B018  # present, or AttributeError
    except (ImportError, AttributeError):
        core = importlib.import_module("jax.core")
    ad: Any = importlib.import_module("jax.interpreters.ad")
    mlir: Any = importlib.import_module("jax.interpreters.mlir")
    scale = core.Primitive("dezero_ext_test_scale")
    scale.def_impl(lambda t, s: t * s)
    scale.def_abstract_eval(lambda t, s: t)
    mlir.register_lowering(scale, mlir.lower_fun(lambda t, s: t * s, multiple_results=False))
    ad.primitive_transposes[scale] = lambda u, t, s: (u * s * (2.0 / 3.0), None)  # the fault
    return scale


SCALE = _scale_primitive()


@jax.custom_jvp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def cube_wrong_transpose(x: Any) -> Any:
    return x**3


@cube_wrong_transpose.defjvp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def _cube_wrong_transpose_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (tx,) = primals, tangents
    return cube_wrong_transpose(x), SCALE.bind(tx, 3 * x * x)  # right JVP, wrong transpose


@jax.custom_vjp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def vjp_cube(x: Any) -> Any:
    return x**3


vjp_cube.defvjp(lambda x: (x**3, x), lambda x, g: (3 * x * x * g,))


def test_a_right_rule_passes_in_both_dtypes() -> None:
    target = jax_target(cube, domains=Domain(-2.0, 2.0))
    assert target.forward_rule is not None and "custom_jvp rule of cube" in target.forward_rule.jvp
    for dtype in ("float64", "float32"):
        check_target_jvp(target, [X[0].astype(dtype)], {}, seed=1)
    test = jvp_test(target, CheckOptions(examples=5))  # what check_op runs after the gradients
    assert test is not None
    test()


def test_a_wrong_rule_is_named_as_the_rule() -> None:
    target = jax_target(wrong_cube, domains=Domain(-2.0, 2.0))
    with pytest.raises(JvpCheckError) as caught:
        check_target_jvp(target, X, {}, seed=3)
    # JAX's VJP transposes the wrong rule: the two agree, and both miss the derivative
    assert caught.value.side == "both"
    assert "cause: the custom_jvp rule of wrong_cube" in str(caught.value)
    assert "transposes its rule" in str(caught.value)


def test_a_wrong_transpose_under_a_right_rule_is_named_as_the_vjp() -> None:
    target = jax_target(cube_wrong_transpose, domains=Domain(-2.0, 2.0))
    with pytest.raises(JvpCheckError) as caught:
        check_target_jvp(target, X, {}, seed=3)
    assert caught.value.side == "vjp"
    assert "the VJP is wrong" in str(caught.value)
    assert "cause: JAX's transpose of the custom_jvp rule of cube_wrong_transpose" in str(
        caught.value
    )


def test_custom_vjp_has_no_rule_and_native_checks_jax_jvp() -> None:
    assert jax_target(vjp_cube).forward_rule is None
    assert jax_target(cube, jvp="fallback").forward_rule is None
    native = jax_target(jnp.sin, jvp="native", domains=Domain(-2.0, 2.0))
    assert native.forward_rule is not None
    check_target_jvp(native, X, {}, seed=4)
