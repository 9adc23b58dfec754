"""JAX's own differentiable functions as checker targets (imported only where JAX is
installed): ``jax.numpy`` elementwise math, broadcasting binary ops, reductions, matmul,
``jax.nn`` activations and softmax, and a loss. ``SUITE`` is checked at orders 1-2 by
tests/testing/test_adapter_jax.py."""

from __future__ import annotations

import importlib
from typing import Any

from dezero_ext import Case, Domain, Draw, ShapeRule
from dezero_ext.testing.adapters.jax import JaxTarget, jax_target

jax: Any = importlib.import_module("jax")
jnp: Any = jax.numpy
nn: Any = jax.nn

# undefined (nan) below 0, as the checker verifies of a declared outside="nan"
POSITIVE = Domain(0.2, 3.0, positive=True, outside="nan")
NONZERO = Domain(-3.0, 3.0, exclude=(0.0,), margin=0.3)
RELU_LIKE = Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="left")
BROADCAST = ShapeRule.BROADCAST
REDUCTION = ShapeRule.REDUCTION


def _sample_axis(draw: Draw) -> Case:
    """A 1-3 dimensional input and the ``axis`` softmax-like functions normalise along."""
    shape = draw.shape(min_dims=1, max_dims=3)
    return Case((draw.array(shape),), {"axis": draw.integer(-len(shape), len(shape) - 1)})


def _sample_pair(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=2)
    return Case((draw.array(shape), draw.array(shape)))


def _mse(x: Any, y: Any) -> Any:
    return jnp.mean((x - y) ** 2)


def _logsumexp(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    return jax.scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)


def _norm(x: Any) -> Any:
    return jnp.linalg.norm(x)


SUITE: list[JaxTarget] = [
    # elementwise
    jax_target(jnp.sin, domains=Domain(-3.0, 3.0), order=2),
    jax_target(jnp.cos, domains=Domain(-3.0, 3.0), order=2),
    jax_target(jnp.tanh, order=2),
    jax_target(jnp.exp, order=2),
    jax_target(jnp.log, domains=POSITIVE, order=2),
    jax_target(jnp.sqrt, domains=POSITIVE, order=2),
    jax_target(jnp.log1p, domains=Domain(-0.7, 3.0, outside="nan"), order=2),
    jax_target(jnp.expm1, order=2),
    jax_target(jnp.arctan, domains=Domain(-3.0, 3.0), order=2),
    jax_target(jnp.reciprocal, domains=NONZERO, order=2),
    jax_target(jax.scipy.special.erf, order=2),
    # JAX's convention at 0 is the right derivative (torch's abs'(0) = 0, leaky_relu'(0) = slope)
    jax_target(jnp.abs, domains=Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="right"), order=2),
    # jax.nn activations
    jax_target(nn.sigmoid, domains=Domain(-4.0, 4.0), order=2),
    jax_target(nn.relu, domains=RELU_LIKE, order=2),
    jax_target(nn.softplus, domains=Domain(-4.0, 4.0), order=2),
    jax_target(nn.silu, domains=Domain(-4.0, 4.0), order=2),
    jax_target(nn.gelu, domains=Domain(-3.0, 3.0), order=2),
    jax_target(nn.elu, domains=Domain(-2.0, 2.0, kinks=(0.0,)), order=2),
    jax_target(nn.leaky_relu, domains=Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="right"), order=2),
    jax_target(nn.log_sigmoid, domains=Domain(-4.0, 4.0), order=2),
    jax_target(nn.softmax, sample=_sample_axis, order=2),
    jax_target(nn.log_softmax, sample=_sample_axis, order=2),
    # broadcasting binary ops
    jax_target(jnp.multiply, arity=2, shape_rule=BROADCAST, order=2),
    jax_target(jnp.divide, arity=2, shape_rule=BROADCAST, domains=(Domain(), NONZERO), order=2),
    jax_target(jnp.arctan2, arity=2, shape_rule=BROADCAST, domains=(Domain(), NONZERO), order=2),
    # reductions, linear algebra, a loss
    jax_target(jnp.sum, shape_rule=REDUCTION, order=2),
    jax_target(jnp.mean, shape_rule=REDUCTION, order=2),
    jax_target(_logsumexp, name="logsumexp", shape_rule=REDUCTION, order=2),
    jax_target(jnp.prod, shape_rule=REDUCTION, domains=NONZERO, order=2),
    jax_target(jnp.matmul, arity=2, shape_rule=ShapeRule.MATMUL, order=2),
    jax_target(_norm, name="norm", domains=NONZERO, order=2),
    jax_target(_mse, name="mse", sample=_sample_pair, order=2),
]
