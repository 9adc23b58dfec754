"""Datasets, DeZero's way: ``Dataset(train=True, transform=None, target_transform=None)``
with ``prepare()`` filling ``data`` and ``label``; the toy sets ``Spiral`` and ``SinCurve``;
``MNIST``, ``FashionMNIST``, ``CIFAR10`` and ``ImageNet.labels()`` from the standard files in
the cache directory (``dezero_ext_nn.files``; the readers are in ``_image_sets``).

``dataset[i]`` is one example ``(x, t)``; ``dataset[i:j]`` or ``dataset[indices]`` a batch of
them, stacked (DeZero accepted a single index only). The transforms apply per example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, SupportsIndex, TypeVar, cast

import numpy as np

from dezero_ext import Array
from dezero_ext_nn.transforms import (
    AsType,
    Compose,
    Flatten,
    Normalize,
    ToFloat,
    ToInt,
    Transform,
)

__all__ = [
    "CIFAR10",
    "DEFAULT",
    "MNIST",
    "AsType",
    "Compose",
    "DataFormatError",
    "Dataset",
    "FashionMNIST",
    "ImageNet",
    "Flatten",
    "Normalize",
    "SinCurve",
    "Spiral",
    "ToFloat",
    "ToInt",
    "Transform",
    "get_spiral",
]

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


# ---------------------------------------------------------------------- toy datasets
def get_spiral(train: bool = True) -> tuple[Array, Array]:
    """DeZero's three-armed spiral: 300 points ``x`` (float32, shape (300, 2)) and class labels
    ``t`` (int64, 0 to 2), the same numbers as DeZero's (seed 1984 for training, 2020 for
    test), without touching NumPy's global random state."""
    rng = np.random.RandomState(1984 if train else 2020)
    num_data, num_class, input_dim = 100, 3, 2
    x = np.zeros((num_data * num_class, input_dim), dtype=np.float32)
    t = np.zeros(num_data * num_class, dtype=np.int64)
    for j in range(num_class):
        for i in range(num_data):
            rate = i / num_data
            radius = 1.0 * rate
            theta = j * 4.0 + 4.0 * rate + rng.randn() * 0.2
            ix = num_data * j + i
            x[ix] = np.array([radius * np.sin(theta), radius * np.cos(theta)])
            t[ix] = j
    indices = rng.permutation(num_data * num_class)
    return x[indices], t[indices]


class Spiral(Dataset[Array]):
    """The spiral data of ``get_spiral``: 300 examples of 2 features, 3 classes."""

    def prepare(self) -> None:
        self.data, self.label = get_spiral(self.train)


class SinCurve(Dataset[Array]):
    """A sine wave sampled at 1000 points over one period, as a sequence: example ``i`` is
    ``y[i]`` and its label the next value ``y[i + 1]`` (shapes (999, 1), float64). Training
    data is ``sin`` plus uniform noise in [-0.05, 0.05] drawn with ``seed``; test data is the
    noiseless ``cos``."""

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
        seed: int | None = 0,
    ) -> None:
        self.seed = seed
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        num_data = 1000
        x = np.linspace(0, 2 * np.pi, num_data)
        if self.train:
            noise = np.random.default_rng(self.seed).uniform(-0.05, 0.05, size=x.shape)
            y = np.sin(x) + noise
        else:
            y = np.cos(x)
        self.data = y[:-1, np.newaxis]
        self.label = y[1:, np.newaxis]


# The file-based datasets need Dataset: imported last, re-exported here (DeZero's module).
from dezero_ext_nn._image_sets import (  # noqa: E402
    CIFAR10,
    DEFAULT,
    MNIST,
    DataFormatError,
    FashionMNIST,
    ImageNet,
)
