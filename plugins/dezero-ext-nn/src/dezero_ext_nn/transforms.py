"""Transforms of one example (a NumPy array), DeZero's: ``Compose``, ``Normalize``,
``Flatten``, ``AsType`` (``ToFloat``, ``ToInt``). A dataset applies its ``transform`` to each
example it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from dezero_ext import Array

__all__ = ["AsType", "Compose", "Flatten", "Normalize", "ToFloat", "ToInt", "Transform"]

Transform = Callable[[Array], Array]
"""A function of one example's array."""


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        self.transforms = list(transforms)

    def __call__(self, array: Array) -> Array:
        for transform in self.transforms:
            array = transform(array)
        return array

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def _per_channel(value: ArrayLike, array: Array, name: str) -> Array:
    """A scalar as is; a sequence as one value per channel along axis 0."""
    values = np.asarray(value, dtype=array.dtype if array.dtype.kind == "f" else np.float64)
    if values.ndim == 0:
        return values
    if values.ndim != 1 or array.ndim == 0 or values.size not in (1, array.shape[0]):
        raise ValueError(
            f"Normalize: {name} {np.asarray(value).tolist()} must be a number or one value per "
            f"channel (axis 0) of an example of shape {array.shape}"
        )
    return values.reshape((-1,) + (1,) * (array.ndim - 1))


class Normalize:
    """``(array - mean) / std``; ``mean`` and ``std`` are numbers or one value per channel
    (axis 0 of the example)."""

    def __init__(self, mean: ArrayLike = 0, std: ArrayLike = 1) -> None:
        self.mean = mean
        self.std = std

    def __call__(self, array: Array) -> Array:
        mean = _per_channel(self.mean, array, "mean")
        std = _per_channel(self.std, array, "std")
        result: Array = (array - mean) / std
        return result


class Flatten:
    """The example as a 1-D array."""

    def __call__(self, array: Array) -> Array:
        return array.reshape(-1)


class AsType:
    """The example converted to ``dtype`` (float32 by default)."""

    def __init__(self, dtype: DTypeLike = np.float32) -> None:
        self.dtype = np.dtype(dtype)

    def __call__(self, array: Array) -> Array:
        return array.astype(self.dtype)


ToFloat = AsType


class ToInt(AsType):
    """The example converted to an integer ``dtype`` (int64 by default)."""

    def __init__(self, dtype: DTypeLike = np.int64) -> None:
        super().__init__(dtype)
