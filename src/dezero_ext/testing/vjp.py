"""Backward passes as functions: ``backprop`` (``vᵀJ`` for several outputs at once) and
``lift`` (the backward pass of one level as a differentiable function of the inputs, the
levels ``G_0, G_1, ...`` higher-order checks differentiate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np

from dezero_ext.core.backend import namespace_of
from dezero_ext.core.variable import Array, Variable
from dezero_ext.testing.timeout import in_phase

__all__ = ["LevelFunction", "backprop", "lift"]

LevelFunction: TypeAlias = Callable[..., tuple[Variable, ...]]
"""A function of Variables returning a tuple of Variables: the op, or a backward pass."""


def backprop(
    outputs: Sequence[Variable],
    cotangents: Sequence[Array],
    inputs: Sequence[Variable],
    *,
    create_graph: bool = False,
) -> list[Variable]:
    """``vᵀJ``: the gradients of ``sum_k <v_k, outputs[k]>`` with respect to ``inputs``.

    Outputs made by one function are seeded together; outputs of different functions get a
    backward pass each (the sum is linear), so no extra op enters the graph. An input nothing
    reaches gets zeros.
    """
    for x in inputs:
        x.cleargrad()
    direct: list[Variable | None] = [None] * len(inputs)
    seeds: dict[int, tuple[Variable, Array]] = {}
    for y, v in zip(outputs, cotangents, strict=True):
        if isinstance(v, np.ndarray):  # another backend's come in the outputs' dtype
            v = np.asarray(v, dtype=y.data.dtype)
        if y.creator is not None:
            seeds[id(y)] = (y, seeds[id(y)][1] + v) if id(y) in seeds else (y, v)
            continue
        for i, x in enumerate(inputs):  # an output that is an input: its gradient is v
            if y is x:
                previous = direct[i]
                direct[i] = Variable(v) if previous is None else previous + Variable(v)
    _backward(list(seeds.values()), create_graph)
    grads: list[Variable] = []
    for x, extra in zip(inputs, direct, strict=True):
        g = x.grad
        if g is None:
            g = extra if extra is not None else Variable(namespace_of(x.data).zeros_like(x.data))
        elif extra is not None:
            g = g + extra
        grads.append(g)
        x.cleargrad()
    return grads


def _backward(seeds: list[tuple[Variable, Array]], create_graph: bool) -> None:
    """One backward pass per function that made a seeded output, all its outputs seeded."""
    done: set[int] = set()
    for y, _ in seeds:
        creator = y.creator
        if creator is None or id(creator) in done:
            continue
        done.add(id(creator))
        for other, v in seeds:
            if other.creator is creator:
                other.grad = Variable(v)
        y.backward(create_graph=create_graph)


def _as_dtype(v: Array, x: Variable) -> Array:
    """The cotangent ``v`` in ``x``'s dtype (another backend's: in its namespace)."""
    if isinstance(v, np.ndarray):
        return v.astype(x.dtype)
    cast: Array = namespace_of(v).astype(v, x.dtype)
    return cast


def lift(apply: LevelFunction, cotangents: Sequence[Sequence[Array]]) -> list[LevelFunction]:
    """``[G_0, G_1, ...]``: the op, then each level's backward pass as a function."""
    levels = [apply]
    for level_cotangents in cotangents:
        below = levels[-1]

        def lifted(
            *xs: Variable, below: LevelFunction = below, vs: Sequence[Array] = level_cotangents
        ) -> tuple[Variable, ...]:
            ys = below(*xs)
            with in_phase("backward"):
                grads = backprop(ys, [_as_dtype(v, xs[0]) for v in vs], xs, create_graph=True)
            return tuple(grads)

        levels.append(lifted)
    return levels
