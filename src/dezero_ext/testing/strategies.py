"""Hypothesis strategies built from an op's declaration: its ``Domain`` per input, its
``ShapeRule`` or its ``sample`` function.

Values are *constructed* inside the domain (the allowed interval minus a ``margin`` around
excluded points and kinks), never filtered with ``assume``; ``distinct`` inputs get elements at
least ``margin`` apart; no NaN, infinity or subnormal is drawn; shapes are small (at most 4 per
side, 3 dimensions and 64 elements) so that a check stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, Protocol, TypeVar, cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Case, Declaration, Domain, ShapeRule

__all__ = [
    "MAX_SIZE",
    "Drawer",
    "HypothesisDraw",
    "array_in",
    "cases",
    "draw_case",
    "shapes_for",
    "values_in",
]

T = TypeVar("T")


class Drawer(Protocol):
    """Draws one value from a strategy: Hypothesis's ``data.draw`` or a composite's ``draw``."""

    def __call__(self, strategy: st.SearchStrategy[T], /) -> T: ...


MAX_SIZE: Final = 64
"""The most elements an input drawn by the checker has (a full Jacobian stays cheap)."""
_MAX_SIDE: Final = 4
_MAX_DIMS: Final = 3


def values_in(domain: Domain, dtype: str = "float64") -> st.SearchStrategy[float]:
    """Single values inside ``domain``, exactly representable in ``dtype``."""
    return _values_in(domain, dtype)


# The checker draws thousands of examples from a few dozen declarations: each strategy is
# built (and validated by Hypothesis, on its first draw) once, not once per example.
@lru_cache(maxsize=1024)
def _values_in(domain: Domain, dtype: str) -> st.SearchStrategy[float]:
    size = np.dtype(dtype).itemsize
    width: Literal[16, 32, 64] = 64 if size >= 8 else 32 if size == 4 else 16
    parts = [
        st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)
        for lo, hi in domain.intervals_in(dtype)
    ]
    if not parts:
        raise ValueError(f"{domain}: no {dtype} value lies inside it")
    return st.one_of(parts)


@st.composite
def _distinct_values(draw: st.DrawFn, domain: Domain, count: int, dtype: str) -> list[float]:
    """``count`` values of ``domain`` pairwise at least ``margin`` apart (constructed: sorted
    offsets spaced by ``margin`` along the allowed intervals, then shuffled)."""
    pieces = domain.intervals()
    total = sum(high - low for low, high in pieces)
    gap = domain.margin
    if count > 1 and (count - 1) * gap > total:
        gap = total / count  # too many elements for the margin: spread them evenly
    free = max(total - (count - 1) * gap, 0.0)
    offsets = sorted(draw(st.lists(st.floats(0.0, free), min_size=count, max_size=count)))
    positions = [offset + i * gap for i, offset in enumerate(offsets)]
    values: list[float] = []
    for position in positions:
        remaining = position
        for low, high in pieces:
            if remaining <= high - low:
                values.append(low + remaining)
                break
            remaining -= high - low
        else:
            values.append(pieces[-1][1])
    order = draw(st.permutations(range(count)))
    np_dtype = np.dtype(dtype)
    return [float(np_dtype.type(values[i])) for i in order]


def array_in(
    domain: Domain, shape: tuple[int, ...], dtype: str = "float64"
) -> st.SearchStrategy[Array]:
    """Arrays of ``shape`` and ``dtype`` with every element inside ``domain`` (distinct ones
    at least ``margin`` apart when ``domain.distinct``)."""
    return _array_in(domain, tuple(shape), dtype)


@lru_cache(maxsize=4096)
def _array_in(domain: Domain, shape: tuple[int, ...], dtype: str) -> st.SearchStrategy[Array]:
    count = math.prod(shape)
    if domain.distinct and count > 1:
        return _distinct_values(domain, count, dtype).map(
            lambda values: np.asarray(values, dtype=dtype).reshape(shape)
        )
    return hnp.arrays(np.dtype(dtype), shape, elements=values_in(domain, dtype), fill=st.nothing())


def _bounded(shape: tuple[int, ...]) -> bool:
    return math.prod(shape) <= MAX_SIZE


def shapes_for(
    rule: ShapeRule, arity: int, ndim: tuple[int, ...] = ()
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """The input shapes an op with ``rule`` and ``arity`` is checked on, each with a number of
    dimensions in ``ndim`` (``Declaration.ndim``; empty: any)."""
    return _shapes_for(rule, arity, tuple(ndim))


@lru_cache(maxsize=256)
def _shapes_for(
    rule: ShapeRule, arity: int, ndim: tuple[int, ...]
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    low, high = (min(ndim), max(ndim)) if ndim else (0, _MAX_DIMS)
    strategy: st.SearchStrategy[tuple[tuple[int, ...], ...]]
    if rule is ShapeRule.BROADCAST:
        strategy = hnp.mutually_broadcastable_shapes(
            num_shapes=arity, min_dims=low, max_dims=high, max_side=_MAX_SIDE
        ).map(lambda b: tuple(b.input_shapes))
    elif rule is ShapeRule.MATMUL:
        if arity != 2:
            raise ValueError(f"ShapeRule.MATMUL takes two inputs, not {arity}")
        # matrices only (ndim >= 2): n and m are not optional, batch dimensions as ndim allows
        matrices = "(n,k),(k,m)->(n,m)" if low >= 2 else np.matmul.signature
        strategy = hnp.mutually_broadcastable_shapes(
            signature=matrices or "(n?,k),(k,m?)->(n?,m?)",
            min_dims=max(0, low - 2),
            max_dims=max(0, high - 2) if ndim else 1,
            max_side=_MAX_SIDE,
        ).map(lambda b: tuple(b.input_shapes))
    else:
        one = hnp.array_shapes(min_dims=low, max_dims=high, min_side=1, max_side=_MAX_SIDE)
        strategy = one.map(lambda shape: (shape,) * arity)
    if not ndim or len(ndim) == high - low + 1:
        return strategy
    return strategy.filter(lambda shapes: all(len(s) in ndim for s in shapes))


@st.composite
def _axis(draw: st.DrawFn, ndim: int) -> int | tuple[int, ...] | None:
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or ndim == 0:
        return None if kind != "tuple" else ()
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


@dataclass(slots=True)
class HypothesisDraw:
    """The ``Draw`` an op's ``sample`` function receives, answered by Hypothesis (``draw`` is
    ``data.draw`` or a composite's ``draw``), so the sampled case shrinks with the example."""

    draw: Drawer
    domain: Domain
    dtype: str = "float64"

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def boolean(self) -> bool:
        return self.draw(st.booleans())

    def choice(self, options: Sequence[T]) -> T:
        if not options:
            raise ValueError("Draw.choice: no options to choose from")
        return self.draw(sampled_from_cached(tuple(options)))

    def shape(
        self, *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
    ) -> tuple[int, ...]:
        return self.draw(_array_shapes(min_dims, max_dims, min_side, max_side))

    def array(self, shape: tuple[int, ...], domain: Domain | None = None) -> Array:
        return self.draw(array_in(domain or self.domain, tuple(shape), self.dtype))


def draw_case(draw: Drawer, spec: Declaration, dtype: str = "float64") -> Case:
    """One ``Case`` for ``spec`` (an ``OpDef`` or any ``Declaration``) in ``dtype``: from its
    ``sample`` function when it has one, otherwise shapes from its ``shape_rule`` and values
    from its ``domains``."""
    # One draw of one strategy: a top-level draw of a test's data costs more (Hypothesis
    # compares the random module's state around it) than a small case's own draws.
    return draw(_case_strategy(spec, dtype))


_CASES: dict[tuple[int, str], tuple[Declaration, st.SearchStrategy[Case]]] = {}


def _case_strategy(spec: Declaration, dtype: str) -> st.SearchStrategy[Case]:
    """``_drawn_case(spec, dtype)``, built once (keyed by the declaration's identity, which the
    entry keeps alive)."""
    key = (id(spec), dtype)
    entry = _CASES.get(key)
    if entry is None or entry[0] is not spec:
        if len(_CASES) >= 1024:  # declarations made on the fly, one per check
            _CASES.clear()
        entry = _CASES[key] = (spec, _drawn_case(spec, dtype))
    return entry[1]


@st.composite
def _drawn_case(draw: st.DrawFn, spec: Declaration, dtype: str) -> Case:
    if spec.sample is not None:
        case = spec.sample(HypothesisDraw(draw, spec.domain(0), dtype))
        inputs = tuple(np.asarray(x, dtype=dtype) for x in case.inputs)
        return Case(inputs, dict(case.params))
    shapes = draw(_bounded_shapes(spec.shape_rule, spec.arity, tuple(spec.ndim)))
    inputs = tuple(draw(array_in(spec.domain(i), shape, dtype)) for i, shape in enumerate(shapes))
    params: dict[str, object] = {}
    if spec.shape_rule is ShapeRule.REDUCTION:
        params = {"axis": draw(_axes(inputs[0].ndim)), "keepdims": draw(st.booleans())}
    return Case(inputs, params)


def _all_bounded(shapes: tuple[tuple[int, ...], ...]) -> bool:
    return all(_bounded(shape) for shape in shapes)


@lru_cache(maxsize=256)
def _bounded_shapes(
    rule: ShapeRule, arity: int, ndim: tuple[int, ...]
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    return _shapes_for(rule, arity, ndim).filter(_all_bounded)


@lru_cache(maxsize=64)
def _axes(ndim: int) -> st.SearchStrategy[int | tuple[int, ...] | None]:
    return _axis(ndim)


@lru_cache(maxsize=256)
def _array_shapes(
    min_dims: int, max_dims: int, min_side: int, max_side: int
) -> st.SearchStrategy[tuple[int, ...]]:
    shapes = hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )
    return shapes.filter(_bounded) if max_side**max_dims > MAX_SIZE else shapes


_SCALARS: Final = (int, float, str, bool, type(None))


def sampled_from_cached(options: tuple[T, ...]) -> st.SearchStrategy[T]:
    """``st.sampled_from(options)``, built once per list of plain values (keyed by their
    types and reprs: ``1``, ``1.0``, ``True`` and ``-0.0``, ``0.0`` are equal as keys)."""
    try:
        key = _key(options)
    except TypeError:  # arrays, objects: a strategy of their own
        return st.sampled_from(options)
    strategy = _SAMPLED.get(key)
    if strategy is None:
        if len(_SAMPLED) >= 4096:  # a sampler choosing among ever new lists
            _SAMPLED.clear()
        strategy = _SAMPLED[key] = st.sampled_from(options)
    return cast("st.SearchStrategy[T]", strategy)  # keyed by these very options


_SAMPLED: dict[object, st.SearchStrategy[object]] = {}


def _key(value: object) -> object:
    if type(value) is tuple:
        return tuple(_key(v) for v in value)
    if type(value) in _SCALARS:
        return (type(value), repr(value))
    raise TypeError(f"no key for {type(value).__name__}")


@st.composite
def cases(draw: st.DrawFn, spec: Declaration, dtype: str = "float64") -> Case:
    """A strategy of ``Case``s for ``spec`` (an ``OpDef`` or any ``Declaration``) in ``dtype``
    (see ``draw_case``)."""
    return draw_case(draw, spec, dtype)
