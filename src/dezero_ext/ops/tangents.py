"""Helpers for forward-mode rules (``Function.jvp`` and ``jvp_array``), public for plugins.

Three shapes of rule cover most ops:

- **elementwise, one input** (``exp``, ``relu``): the Jacobian is diagonal, so it is its own
  transpose and the JVP is the VJP: ``jvp = backward`` and ``jvp_array = backward_array``
  in the class body (``backward`` must compute ``gy * f'(x)``, with no reduction);
- **linear** (``sum``, ``reshape``, ``x[index]``, a convolution in one argument): the JVP is
  the op itself applied to the tangents: ``jvp = linear_jvp``, ``jvp_array =
  linear_jvp_array``;
- **one value out** (a loss): the Jacobian is the gradient, so the JVP is ``⟨∇f, t⟩`` from
  the op's own backward: ``jvp = scalar_jvp``, ``jvp_array = scalar_jvp_array`` (derived
  from the VJP, so the checker's transpose identity holds by construction for these; its
  directional-derivative check still proves them);
- **a sum of terms** (``mul``: ``tx0 * x1 + x0 * tx1``), where an input's tangent may be None
  (zero): ``tangent_sum(shape, *terms)`` adds the terms that are there, each broadcast to the
  output's shape (``tangent_sum_array`` on arrays).
"""

from __future__ import annotations

import numpy as np

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Variable

__all__ = [
    "linear_jvp",
    "linear_jvp_array",
    "scalar_jvp",
    "scalar_jvp_array",
    "tangent_sum",
    "tangent_sum_array",
]


def linear_jvp(self: Function, *tangents: Variable | None) -> Variable:
    """``jvp`` of an op linear in its inputs: the op (a fresh copy, same parameters) on the
    tangents, a zero tangent as zeros."""
    args = [
        t if t is not None else _zeros_like(x) for t, x in zip(tangents, self.inputs, strict=True)
    ]
    return self._fresh()(*args)


def linear_jvp_array(self: Function, *tangents: Array | None) -> Array:
    """``jvp_array`` of an op linear in its inputs: its forward on the tangents."""
    args = [
        np.asarray(t) if t is not None else np.zeros_like(x._data)
        for t, x in zip(tangents, self.inputs, strict=True)
    ]
    return np.asarray(self._fresh().forward(*args))


def _zeros_like(x: Variable) -> Variable:
    return Variable(np.zeros_like(x._data), requires_grad=False)


def tangent_sum(shape: tuple[int, ...], *terms: Variable | None) -> Variable | None:
    """The sum of the terms that are not None, each broadcast to ``shape`` (None: all are)."""
    total: Variable | None = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    if total is None or total.shape == shape:
        return total
    # broadcast by adding zeros (add broadcasts): this module stands below shape.py's ops
    return total + Variable(np.zeros(shape, dtype=total.dtype), requires_grad=False)


def tangent_sum_array(shape: tuple[int, ...], *terms: Array | None) -> Array | None:
    """``tangent_sum`` on arrays."""
    total: Array | None = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    if total is None or np.shape(total) == shape:
        return total
    return np.broadcast_to(total, shape)


def scalar_jvp(self: Function, *tangents: Variable | None) -> Variable | None:
    """``jvp`` of an op with one value out: ``⟨∇f, t⟩``, the gradient from ``backward``."""
    y = self.output()
    grads = self.backward(Variable(np.ones_like(y._data), requires_grad=False))
    items = grads if isinstance(grads, tuple) else (grads,)
    total: Variable | None = None
    for g, t in zip(items, tangents, strict=True):
        if g is not None and t is not None:
            term = (g * t).sum()
            total = term if total is None else total + term
    return None if total is None else total.reshape(y.shape)


def scalar_jvp_array(self: Function, *tangents: Array | None) -> Array | None:
    """``scalar_jvp`` on arrays, from ``backward_array``."""
    y = np.asarray(self.output_array())
    rule = self.backward_array
    assert rule is not None, "scalar_jvp_array needs backward_array (use scalar_jvp alone)"
    grads = rule(np.ones_like(y))
    items = grads if isinstance(grads, tuple) else (grads,)
    total = None
    for g, t in zip(items, tangents, strict=True):
        if g is not None and t is not None:
            term = np.sum(np.asarray(g) * t)
            total = term if total is None else total + term
    return None if total is None else np.asarray(total, dtype=y.dtype).reshape(y.shape)
