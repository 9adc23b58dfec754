"""``Example``: one example under check — the target, its inputs and parameters, the dtype,
the direction seed and the tolerances — and the random directions drawn for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Tolerance
from dezero_ext.testing.numerical import F64, ArrayFunction
from dezero_ext.testing.protocol import Cotangents, Target
from dezero_ext.testing.stacked import StackedFunction, align, tiled
from dezero_ext.testing.timeout import NUMERICAL, in_phase

__all__ = ["Example", "random_direction", "tolerance_for"]


_SIGNS = np.array([-1.0, 1.0])

# float16 is checked with JAX's tolerance for it at least.
_FLOOR16 = 1e-2


def tolerance_for(tolerance: Tolerance, dtype: str) -> tuple[float, float]:
    """``(rtol, atol)`` for a check in ``dtype``: the op's ``Tolerance``, with JAX's
    per-dtype floor for float16."""
    rtol, atol = tolerance.for_dtype(np.dtype(dtype))
    if np.dtype(dtype).itemsize <= 2:
        return max(rtol, _FLOOR16), max(atol, _FLOOR16)
    return rtol, atol


@dataclass(frozen=True, slots=True)
class Example:
    """One example under check: the target, its inputs (in ``dtype``) and parameters, the
    seed of the random directions and the ``tolerance`` (the target's, or one given for the
    check). ``variant`` names a variant of the drawn example (the op without its optional
    inputs, a composition), empty for the example itself."""

    target: Target
    inputs: tuple[Array, ...]
    params: Mapping[str, object]
    dtype: str
    seed: int
    tolerance: Tolerance
    plugin: str | None = None
    variant: str = ""
    composed: bool = False
    """Whether the target is a composition of the op (``compose``)."""
    full_jacobian: bool = False
    """Whether every example gets the full Jacobian (for the reproduce snippet)."""

    @property
    def name(self) -> str:
        """The target's name."""
        return self.target.spec.name

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(x.shape for x in self.inputs)

    @property
    def reference(self) -> str:
        """The dtype the numerical derivative evaluates in: float64 when the target supports
        it, else ``dtype``."""
        return "float64" if "float64" in self.target.spec.dtypes else self.dtype

    @property
    def rtol(self) -> float:
        return tolerance_for(self.tolerance, self.dtype)[0]

    @property
    def atol(self) -> float:
        return tolerance_for(self.tolerance, self.dtype)[1]

    def in_dtype(self, dtype: str) -> Example:
        """The same example in ``dtype``."""
        return replace(self, dtype=dtype, inputs=tuple(x.astype(dtype) for x in self.inputs))

    def rng(self) -> np.random.Generator:
        """A fresh generator of the example's random directions."""
        return np.random.default_rng(self.seed)

    def reference_function(self, cotangents: Cotangents) -> ArrayFunction:
        """``G_k`` of the target (``k = len(cotangents)``) on arrays, computed in the
        reference dtype: what the numerical derivative differentiates."""

        def f(*arrays: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.floating], ...]:
            xs = [np.asarray(a, dtype=self.reference) for a in arrays]
            with in_phase(NUMERICAL):
                return self.target.evaluate(xs, self.params, cotangents)

        return f

    def stacked_function(self, cotangents: Cotangents) -> StackedFunction | None:
        """``reference_function`` on stacked points (``stacked.py``) for a target that
        declares its op elementwise (its ``stack_rank``), else None."""
        rank = getattr(self.target, "stack_rank", None)
        if not self.inputs or not isinstance(rank, int):
            return None
        return _stacked_function(self, cotangents, rank)


def _stacked_function(ex: Example, cotangents: Cotangents, held: int) -> StackedFunction:
    """``Example.stacked_function``: the inputs aligned to one rank (at least ``held``, the
    constants' a target holds), each level's cotangents repeated for every stacked point."""
    rank = max([held, *(x.ndim for x in ex.inputs)])

    def f(*stacked: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.floating], ...]:
        m = stacked[0].shape[0]
        xs = align([np.asarray(a, dtype=ex.reference) for a in stacked], rank)
        repeated = [tiled(list(level), m, rank) for level in cotangents]
        with in_phase(NUMERICAL):
            return ex.target.evaluate(xs, ex.params, repeated)

    return f


def random_direction(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> F64:
    """Random direction components: a sign times a magnitude in [0.5, 1.5] (no tiny
    component hides an error), rounded to ``dtype`` so both sides use the same numbers."""
    # SIGNS[integers(0, 2)] is what rng.choice([-1.0, 1.0]) computes (the same numbers from
    # the same generator), without choice's checks of its arguments on every call.
    values = _SIGNS[rng.integers(0, 2, size=shape)] * rng.uniform(0.5, 1.5, size=shape)
    rounded: F64 = np.asarray(values, dtype=dtype).astype(np.float64)
    return rounded
