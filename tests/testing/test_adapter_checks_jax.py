"""What the JAX adapter checks besides one call's gradient (skipped without JAX): a
``custom_vjp`` that keeps state between calls passes one call but fails the composition checks
(two calls in one graph), which run in JAX's own graph; its correct twin passes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients, check_op

jax: Any = pytest.importorskip("jax")
jnp: Any = jax.numpy

from dezero_ext.testing.adapters.jax import jax_target  # noqa: E402

X = [np.array([0.3, -1.2, 2.0, 0.7])]
_last: dict[str, Any] = {}


@jax.custom_vjp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def kept_sin(x: Any) -> Any:
    """sin, whose ``fwd`` keeps its input in a module-level dict that ``bwd`` reads: right for
    one call, wrong for the first of two calls in one graph."""
    return jnp.sin(x)


def _kept_fwd(x: Any) -> tuple[Any, None]:
    _last["x"] = x
    return jnp.sin(x), None


def _kept_bwd(residual: None, g: Any) -> tuple[Any]:
    return (g * jnp.cos(_last["x"]),)


kept_sin.defvjp(_kept_fwd, _kept_bwd)


@jax.custom_vjp  # type: ignore[untyped-decorator]  # jax is untyped here (Any)
def saved_sin(x: Any) -> Any:
    """The correct twin: ``bwd`` reads the residual ``fwd`` returns."""
    return jnp.sin(x)


def _saved_fwd(x: Any) -> tuple[Any, Any]:
    return jnp.sin(x), x


def _saved_bwd(x: Any, g: Any) -> tuple[Any]:
    return (g * jnp.cos(x),)


saved_sin.defvjp(_saved_fwd, _saved_bwd)


def test_a_custom_vjp_keeping_state_fails_the_composition_check() -> None:
    target = jax_target(kept_sin, domains=Domain(-3, 3), dtypes=("float64",))
    assert check_gradients(target, X, options=CheckOptions(compose=False)).orders
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(target, X)
    failure = raised.value.failure
    assert failure.kind == "mismatch" and failure.example.composed
    assert "two instances in one graph" in failure.example.variant
    assert "state:" in str(raised.value)


def test_its_correct_twin_passes_the_compositions() -> None:
    target = jax_target(saved_sin, domains=Domain(-3, 3), dtypes=("float64",))
    result = check_gradients(target, X)
    assert len(result.variants) == 2  # two instances in one graph; on its own output
    assert check_op(target, CheckOptions(examples=4)).passed
