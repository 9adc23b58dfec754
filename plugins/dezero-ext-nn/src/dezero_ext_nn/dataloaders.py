"""Mini-batches, DeZero's way: ``for x, t in DataLoader(dataset, batch_size):``.

A ``DataLoader`` is an iterator over one epoch at a time (``next(loader)`` works, as in
DeZero); each ``for`` loop over it is a new epoch, shuffled again when ``shuffle``. The
shuffling comes from ``seed`` (an int or a ``numpy.random.Generator``: the same seed gives the
same batches) or, without one, from NumPy's global random state (``np.random.seed`` applies,
as in DeZero). The last batch of an epoch may be smaller.

A ``Dataset`` whose ``data`` (and ``label``) are Dask arrays, larger than memory, is read as
batches are drawn: each batch is one Dask computation that loads only the chunks holding its
examples, and comes out as NumPy arrays. A full shuffle puts examples of many chunks into every
batch; ``block=`` the chunk size shuffles the order of the blocks and the examples within each
instead, and the loader reads whole blocks: each in one computation the first time a batch
needs it, kept while batches read it (at most the two a batch straddles), so that an epoch
reads each chunk once.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Generic, Protocol, Self, TypeVar, cast

import numpy as np

from dezero_ext import Array
from dezero_ext_nn._layer import positive_int
from dezero_ext_nn.datasets import Dataset

__all__ = ["DataLoader", "ExampleSource", "SeqDataLoader", "Source"]

L = TypeVar("L")
L_co = TypeVar("L_co", covariant=True)


class ExampleSource(Protocol[L_co]):
    """What a loader reads: ``len()`` and ``source[i] -> (x, t)`` (a ``Dataset``, or a list
    of pairs)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> tuple[Array, L_co]: ...


Seed = int | np.integer | np.random.Generator | None
Source = Dataset[L] | ExampleSource[L] | Sequence[tuple[Array, L]]
"""What a loader reads: a ``Dataset``, or anything with ``len()`` and ``[i] -> (x, t)``."""


class DataLoader(Generic[L]):
    """Batches ``(x, t)`` of ``batch_size`` examples of ``dataset``, shuffled each epoch when
    ``shuffle``; ``t`` is None for a dataset without labels.

    ``block`` (None: a full shuffle, DeZero's) shuffles blocks of ``block`` consecutive
    examples instead: the blocks' order, then the examples within each block. A Dataset of
    Dask arrays is then read a block at a time (one computation each, kept while batches
    read it): with ``block`` its chunk size, an epoch reads each chunk once."""

    def __init__(
        self,
        dataset: Source[L],
        batch_size: int,
        shuffle: bool = True,
        *,
        seed: Seed = None,
        block: int | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(
            seed, (int, np.integer, np.random.Generator, type(None))
        ):
            raise TypeError(
                f"DataLoader: seed must be an int, a numpy.random.Generator or None, got {seed!r}"
            )
        self.dataset: Source[L] = dataset
        self.batch_size = positive_int(batch_size, "batch_size", type(self).__name__)
        self.shuffle = shuffle
        self.data_size = len(dataset)
        self.max_iter = math.ceil(self.data_size / self.batch_size)
        self.block = None if block is None else positive_int(block, "block", type(self).__name__)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._xp: ModuleType | None = None  # to_backend's library for the batches
        self._blocks: dict[int, tuple[Array, L]] = {}  # a Dask dataset's blocks in use
        self.reset()

    def reset(self) -> None:
        """Start a new epoch (a new order when shuffling)."""
        self.iteration = 0
        if not self.shuffle:
            self.index = np.arange(self.data_size)
            return
        permutation = np.random.permutation if self._rng is None else self._rng.permutation
        if self.block is None:
            self.index = permutation(self.data_size)
            return
        # the blocks in a shuffled order, each one's examples shuffled: batches stay local
        starts = permutation(math.ceil(self.data_size / self.block)) * self.block
        self.index = np.concatenate(
            [
                start + permutation(min(self.block, self.data_size - start))
                for start in starts.tolist()
            ]
        )

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.max_iter

    def __iter__(self) -> Self:
        if self.iteration:  # a loop left an epoch unfinished: start a fresh one
            self.reset()
        return self

    def __next__(self) -> tuple[Array, L]:
        if self.iteration >= self.max_iter:
            self.reset()
            raise StopIteration
        i, size = self.iteration, self.batch_size
        batch = self._fetch(self.index[i * size : (i + 1) * size])
        self.iteration += 1
        return batch

    def next(self) -> tuple[Array, L]:
        """The next batch (DeZero's name for ``next(loader)``)."""
        return self.__next__()

    def to_cpu(self) -> None:
        """Give batches as NumPy arrays (DeZero's name; the default): ``to_backend(numpy)``."""
        self.to_backend(np)

    def to_gpu(self) -> None:
        """Give batches as CuPy arrays on the GPU (DeZero's name): ``to_backend(cupy)``, or a
        ``GPUUnavailableError`` saying why not when ``dezero_ext_nn.cuda.gpu_enable`` is
        False."""
        from dezero_ext_nn import cuda

        cuda.require_gpu(f"{type(self).__name__}.to_gpu()")
        assert cuda.cupy is not None  # require_gpu checked
        self.to_backend(cuda.cupy)

    def to_backend(self, xp: ModuleType) -> None:
        """Give each batch as arrays of module ``xp`` (``numpy``, ``cupy``,
        ``array_api_strict``): read as NumPy arrays (a Dask dataset's chunks computed), then
        moved, one upload per array per batch."""
        self._xp = None if xp is np else xp

    def _fetch(self, indices: Array) -> tuple[Array, L]:
        x, t = self._gather(indices)
        if self._xp is None:
            return x, t
        from dezero_ext_nn._devices import to_library

        return to_library(x, self._xp), cast(L, None if t is None else to_library(t, self._xp))

    def _gather(self, indices: Array) -> tuple[Array, L]:
        dataset = self.dataset
        if isinstance(dataset, Dataset):
            if self.block is not None and _lazy(dataset.data, dataset.label):
                return self._from_blocks(dataset, indices, self.block)
            # one fancy index per array, not one call per example
            return _loaded(*dataset[indices])
        examples = [dataset[int(i)] for i in indices]
        xs = np.stack([np.asarray(x) for x, _ in examples])
        labels = [t for _, t in examples]
        if all(t is None for t in labels):
            return xs, cast(L, None)
        return xs, cast(L, np.stack([np.asarray(t) for t in labels]))

    def _from_blocks(self, dataset: Dataset[L], indices: Array, block: int) -> tuple[Array, L]:
        """The examples ``indices`` from whole blocks, each read in one computation the first
        time a batch needs it and kept while the batches read it: a block-shuffled epoch
        reads each block once, holding only the blocks the current batch reads (two at most
        when ``batch_size <= block``)."""
        keys = np.unique(indices // block)
        kept = {k: self._blocks[k] for k in keys.tolist() if k in self._blocks}
        missing = [k for k in keys.tolist() if k not in kept]
        if missing:
            lazy = [dataset[k * block : (k + 1) * block] for k in missing]
            kept.update(zip(missing, importlib.import_module("dask").compute(*lazy), strict=True))
        self._blocks = kept
        parts = [kept[k] for k in keys.tolist()]
        starts = np.cumsum([0] + [len(x) for x, _ in parts[:-1]])
        positions = indices % block + starts[np.searchsorted(keys, indices // block)]
        x = parts[0][0] if len(parts) == 1 else np.concatenate([x for x, _ in parts])
        if parts[0][1] is None:
            return x[positions], cast(L, None)
        labels = [cast(Array, t) for _, t in parts]
        t = labels[0] if len(labels) == 1 else np.concatenate(labels)
        return x[positions], cast(L, t[positions])


def _lazy(*arrays: object) -> bool:
    return any(hasattr(a, "__dask_graph__") for a in arrays)


def _loaded(x: Array, t: L) -> tuple[Array, L]:
    """A batch of Dask arrays computed together (one graph run reads the chunks both need);
    any other batch as it is."""
    if not _lazy(x, t):
        return x, t
    computed: tuple[Array, L] = importlib.import_module("dask").compute(x, t)
    return computed


class SeqDataLoader(DataLoader[L]):
    """Batches for truncated backpropagation through time: row ``k`` of the ``n``-th batch is
    example ``k * (len(dataset) // batch_size) + n`` (mod the length), so each row of the
    batch walks its own stretch of one long sequence, in order. Never shuffled."""

    def __init__(
        self,
        dataset: Source[L],
        batch_size: int,
    ) -> None:
        super().__init__(dataset, batch_size, shuffle=False)
        if self.batch_size > self.data_size:
            raise ValueError(
                f"SeqDataLoader: batch_size {self.batch_size} is more than the "
                f"{self.data_size} examples of the sequence"
            )

    def __next__(self) -> tuple[Array, L]:
        if self.iteration >= self.max_iter:
            self.reset()
            raise StopIteration
        jump = self.data_size // self.batch_size
        rows = np.arange(self.batch_size) * jump + self.iteration
        batch = self._fetch(rows % self.data_size)
        self.iteration += 1
        return batch
