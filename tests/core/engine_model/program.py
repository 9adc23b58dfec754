"""The adversary's program as the model sees it, and its reference.

A node is a leaf (a Variable made from an array, possibly a view of a base array the program
keeps), an op's output (recorded or not), and nothing else. An op's inputs are nodes, plain
arrays (constants) or *bridges*: ``A + eps * sum(v)`` for a live node ``v`` and an array ``A``
drawn from the op's declared domain, which chains any op after any other while keeping its
inputs where the declaration says the op is differentiable (``eps`` is small enough that no
declared kink, pole or tie is crossed).

The reference replays the program in float64 with the ops' forward passes (under
``no_grad``) from the values every recorded op saw, and differentiates by central
differences of the whole program: the full gradient for small leaves, the derivative along
two fixed random directions for larger ones (each leaf keeps its directions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dezero_ext import Array, MultiOutputFunction, OpDef, Variable, get_registry, no_grad
from dezero_ext.opdef import Domain

F64_TOL, F32_TOL = 1e-5, 3e-3
FULL = 6  # leaves of at most this many elements get the full gradient by central differences
_STEP = float(np.cbrt(np.finfo(np.float64).eps))


class Split(MultiOutputFunction):
    """A multi-output op for the pool (no bundled op has several outputs): ``(2x, x*x)``."""

    def forward(self, x: Array) -> tuple[Array, Array]:
        return 2.0 * x, x * x

    def backward(self, g0: Variable, g1: Variable) -> Variable:
        (x,) = self.inputs
        return 2.0 * g0 + 2.0 * x * g1


SPLIT = OpDef("model_split", function=Split, domains=(Domain(-3.0, 3.0),), order=2)
VIEW_OPS = ("reshape", "transpose", "get_item", "expand_dims", "flatten", "broadcast_to")


def owner(array: Array) -> Array:
    """The array that owns ``array``'s memory, by NumPy's ``.base`` chain."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def pool() -> list[OpDef]:
    """Every registered op, and ``SPLIT``."""
    return [*get_registry().ops().values(), SPLIT]


@dataclass(frozen=True)
class Input:
    """One input of an op node: ``kind`` is ``"node"`` (the node ``src`` as a Variable),
    ``"const"`` (a plain array: ``value``) or ``"bridge"`` (``value + eps * sum(src)``).
    ``value`` for a node input is the free node's value when the op recorded it."""

    kind: str
    src: int | None
    value: Array | None = None
    eps: float = 0.0
    at: Array | None = None  # a bridge from a free node: that node's value when recorded

    @property
    def source(self) -> int:
        """The node a ``"node"`` or ``"bridge"`` input comes from."""
        assert self.src is not None, "a constant has no source node"
        return self.src


@dataclass
class Node:
    """A variable of the program."""

    id: int
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    requires_grad: bool
    recorded: bool  # it has a creator: gradients flow through it
    value: Array  # float64; a free node's current value (what its Variable holds)
    op: OpDef | None = None
    params: dict[str, object] = field(default_factory=dict)
    inputs: tuple[Input, ...] = ()
    index: int = 0  # which output of a multi-output op
    float32: bool = False
    deps: frozenset[int] = frozenset()  # the free requires_grad nodes gradients reach
    graph: frozenset[int] = frozenset()  # the recorded op nodes of its graph (itself too)
    # a free node: the array given to Variable(...), its base (None: it is its own) and how
    # to make the given array from the base; memory: a token for the memory it shows now
    given: Array | None = None
    base: Array | None = None
    view: Callable[[Array], Array] | None = None
    memory: object = None
    base_memory: object = None
    attached: bool = True  # it shows given's memory (until a copy on write)
    directions: tuple[Array, Array] | None = None
    # a recorded op node: the memory tokens its function pins, and whether a backward pass
    # ran through it (then Variable.data copies on write)
    guarded: tuple[int, ...] = ()  # the inputs (free nodes) its function guards
    pins: tuple[object, ...] = ()
    visited: bool = False
    creator: Callable[[], object] | None = None  # a weakref to its Function

    @property
    def free(self) -> bool:
        return not self.recorded

    @property
    def alive(self) -> bool:
        return self.creator is not None and self.creator() is not None


@dataclass
class Term:
    """One gradient a backward call added to a leaf: full (small leaves) and projected."""

    full: Array | None
    projections: tuple[float, float]
    tolerance: float


def close(actual: Array, expected: Array, tolerance: float, scale: float = 1.0) -> bool:
    scale = max(scale, float(np.abs(expected).max(initial=0.0)))
    return bool(np.allclose(actual, expected, rtol=tolerance, atol=tolerance * scale))


def relaxed(domain: Domain, factor: float) -> Domain:
    return dataclasses.replace(domain, margin=domain.margin * factor)


def safe_input(op: OpDef, k: int, v: Array, factor: float = 1.0) -> bool:
    """Whether ``v`` (input ``k``, float64) keeps ``factor * margin`` away from what the
    declaration calls special: outside its interval, poles, kinks, ties within it."""
    d = relaxed(op.domain(k), factor)
    if v.size and not d.contains(v):
        return False
    return not (d.distinct and v.size > 1 and np.diff(np.sort(v, axis=None)).min() < d.margin)


def safe(op: OpDef, values: list[Array], factor: float = 1.0) -> bool:
    """``safe_input`` for every input, and ties between inputs (``maximum``) kept apart."""
    if not all(safe_input(op, k, v, factor) for k, v in enumerate(values)):
        return False
    if op.ties != "none" and len(values) == 2:
        margin = op.domain(0).margin * factor
        a, b = np.broadcast_arrays(values[0], values[1])
        if a.size and np.abs(a - b).min() < margin:
            return False
    return True


class Reference:
    """The program's values in float64 and their derivatives (see the module docstring)."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes

    def value(self, i: int, delta: dict[int, Array], memo: dict[int, Array]) -> Array:
        """Node ``i``'s value with each free node ``j`` of ``delta`` moved by ``delta[j]``."""
        if i in memo:
            return memo[i]
        node = self.nodes[i]
        if node.free:
            result = node.value + delta[i] if i in delta else node.value
        else:
            result = self.apply(node, [self.input(x, delta, memo) for x in node.inputs])
        memo[i] = result
        return result

    def input(self, x: Input, delta: dict[int, Array], memo: dict[int, Array]) -> Array:
        if x.kind == "const":
            assert x.value is not None
            return x.value
        assert x.src is not None
        src = self.nodes[x.src]
        if x.kind == "bridge":
            assert x.value is not None
            if src.free:
                assert x.at is not None
                at = x.at + delta[x.src] if x.src in delta else x.at
            else:
                at = self.value(x.src, delta, memo)
            bridged: Array = x.value + x.eps * np.sum(at)
            return bridged
        if src.free:  # the value the op recorded, moved as the leaf is
            assert x.value is not None
            return x.value + delta[x.src] if x.src in delta else x.value
        return self.value(x.src, delta, memo)

    @staticmethod
    def apply(node: Node, args: list[Array]) -> Array:
        assert node.op is not None
        with no_grad():
            ys = node.op.outputs(
                *(Variable(np.array(a, dtype=np.float64)) for a in args), **node.params
            )
        return np.array(ys[node.index].data, dtype=np.float64)

    def term(self, root: int, seed: Array, leaf: int, tolerance: float) -> Term:
        """``d <seed, root> / d leaf``, by central differences of the whole program."""
        node = self.nodes[leaf]
        h = _STEP * max(1.0, float(np.abs(node.value).max(initial=0.0)))

        def f(move: Array) -> float:
            return float(np.sum(seed * self.value(root, {leaf: move}, {})))

        full = None
        if node.value.size <= FULL:
            full = np.zeros(node.value.shape)
            for idx in np.ndindex(node.value.shape):
                e = np.zeros(node.value.shape)
                e[idx] = h
                full[idx] = (f(e) - f(-e)) / (2 * h)
        assert node.directions is not None
        if full is not None:
            p = tuple(float(np.sum(full * d)) for d in node.directions)
        else:
            p = tuple((f(h * d) - f(-h * d)) / (2 * h) for d in node.directions)
        return Term(full, (p[0], p[1]), tolerance)
