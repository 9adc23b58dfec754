"""The base of ``dezero_ext_nn.datasets``: ``Dataset`` (DeZero's, with batches by slice or
index array), the ``DEFAULT`` transform marker, ``DataFormatError``, and the picture grid
``show`` draws."""

from __future__ import annotations

import enum
import importlib
from collections.abc import Sequence
from typing import Any, Generic, SupportsIndex, TypeVar, cast

import numpy as np

from dezero_ext import Array
from dezero_ext_nn.transforms import Transform

__all__ = ["DEFAULT", "DataFormatError", "Dataset", "Index", "show_grid"]

EXTRA = "pip install 'dezero-ext-nn[examples]' (or pip install matplotlib)"

L = TypeVar("L")
"""The label type: ``Array`` for a labelled dataset, ``None`` for one without labels."""

Index = SupportsIndex | slice | Sequence[int] | Array


class Dataset(Generic[L]):
    """A dataset of examples ``data[i]`` with labels ``label[i]`` (or None).

    Subclasses set ``self.data`` and ``self.label`` in ``prepare()``, which the constructor
    calls. ``transform`` applies to each example's data, ``target_transform`` to its label.
    """

    data: Array
    label: Array | None

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
    ) -> None:
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.label = None
        self.prepare()
        if getattr(self, "data", None) is None:
            raise TypeError(
                f"{type(self).__name__}.prepare() must set self.data (an array of examples)"
            )
        if self.label is not None and len(self.label) != len(self.data):
            raise ValueError(
                f"{type(self).__name__}: {len(self.data)} examples but {len(self.label)} labels"
            )

    def prepare(self) -> None:
        """Fill ``self.data`` and ``self.label`` (subclasses)."""

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: Index) -> tuple[Array, L]:
        """One example ``(x, t)`` for an integer index; for a slice or an array of indices,
        the examples stacked into a batch ``(xs, ts)``."""
        if isinstance(index, (int, np.integer)):
            return self._one(int(index))
        if index.__class__ is np.ndarray:  # a batch (the loader's): no Protocol check, ~10 µs
            return self._batch(index)
        if isinstance(index, SupportsIndex) and not isinstance(index, np.ndarray):
            return self._one(index.__index__())
        return self._batch(index)

    def _one(self, i: int) -> tuple[Array, L]:
        x = self.data[i]
        if self.transform is not None:
            x = self.transform(x)
        if self.label is None:
            return x, cast(L, None)
        t = self.label[i]
        if self.target_transform is not None:
            t = self.target_transform(t)
        return x, cast(L, np.asarray(t))

    def _batch(self, index: slice | Sequence[int] | Array) -> tuple[Array, L]:
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype.kind not in "iu" and index.size:
                raise TypeError(
                    f"{type(self).__name__}: index an example with integers or a slice, got an "
                    f"array of dtype {index.dtype}"
                )
            index = index.astype(np.intp, copy=False)
        if self.transform is None and self.target_transform is None:
            labels = None if self.label is None else self.label[index]
            return self.data[index], cast(L, labels)
        positions = np.arange(len(self))[index]
        examples = [self._one(int(i)) for i in positions]
        xs = np.stack([x for x, _ in examples]) if examples else self.data[index]
        if self.label is None:
            return xs, cast(L, None)
        ts = np.stack([np.asarray(t) for _, t in examples]) if examples else self.label[index]
        return xs, cast(L, ts)


class _Default(enum.Enum):
    DEFAULT = "the dataset's default transform"


DEFAULT = _Default.DEFAULT
"""The dataset's own default ``transform`` (DeZero's); ``transform=None`` gives raw data."""


class DataFormatError(ValueError):
    """A dataset file is not in the format its name says."""


def show_grid(images: Array, row: int, col: int, what: str) -> None:
    """Tile ``images`` (N, H, W) grey or (N, H, W, 3) colour, N = row * col, row by row into
    one picture and show it with matplotlib, as DeZero's ``show``."""
    try:  # by name: matplotlib is an optional extra, and may have no stubs where mypy runs
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        raise ImportError(
            f"{what} draws with matplotlib, which is not installed: {EXTRA}"
        ) from None
    n, h, w = images.shape[:3]
    if n != row * col:
        raise ValueError(f"{what}: {n} images do not fill a {row} x {col} grid")
    grid = images.reshape(row, col, h, w, -1).swapaxes(1, 2).reshape(row * h, col * w, -1)
    colour = grid.shape[-1] == 3
    plt.imshow(
        grid if colour else grid[..., 0], cmap=None if colour else "gray", interpolation="nearest"
    )
    plt.axis("off")
    plt.show()
