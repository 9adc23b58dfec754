"""The ``Draw`` protocol answered by a seeded NumPy generator, for tests that call an op's
``sample`` without Hypothesis (the checker answers with Hypothesis, so its cases shrink)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from dezero_ext import Array, Domain

T = TypeVar("T")


class NumpyDraw:
    """``Draw`` from ``np.random.default_rng(seed)``, in float64; ``default`` is the domain of
    ``array(shape)`` without one (an op's first input's, as in the checker)."""

    def __init__(self, seed: int, default: Domain | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.default = default or Domain()

    def integer(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def boolean(self) -> bool:
        return bool(self.rng.integers(0, 2))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def shape(
        self, *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
    ) -> tuple[int, ...]:
        ndim = self.integer(min_dims, max_dims)
        return tuple(self.integer(min_side, max_side) for _ in range(ndim))

    def array(self, shape: tuple[int, ...], domain: Domain | None = None) -> Array:
        d = domain or self.default
        n = int(np.prod(shape))
        if d.distinct:  # n values at least 1.5 margins apart, shuffled (may pass high)
            values = d.lower + 1.5 * d.margin * self.rng.permutation(n)
            return values.reshape(shape)
        x = self.rng.uniform(d.lower, d.high, size=n)
        for p in d.avoid:
            near = np.abs(x - p) < d.margin
            x[near] = p + np.where(x[near] >= p, d.margin, -d.margin)
        return x.reshape(shape)
