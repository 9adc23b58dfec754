"""A ``DataLoader`` over a Dataset of Dask arrays (issue 23, item 4): batches are the NumPy
loader's, each read as it is drawn (one computation, only the chunks holding its examples),
and the spiral MLP trained from it has the NumPy loss curve. Needs Dask (``pip install -e
'.[dask]'`` from the repository root); CI's step 3 installs it and runs this file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dezero_ext import Array
from dezero_ext_nn import functions, optimizers
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import Dataset, get_spiral
from dezero_ext_nn.models import MLP

da = pytest.importorskip("dask.array")
Callback = pytest.importorskip("dask.callbacks").Callback


class Recorded:
    """An array-like that says which rows Dask read from it (as from a file)."""

    def __init__(self, array: Array) -> None:
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key: Any) -> Array:
        rows = key[0] if isinstance(key, tuple) else key
        assert isinstance(rows, slice)  # Dask reads chunks by slices
        if rows.stop != (rows.start or 0):  # (not the empty probe from_array makes)
            self.reads.append((rows.start or 0, rows.stop))
        return np.asarray(self.array[key])


class DaskSpiral(Dataset[Array]):
    """The spiral's 300 examples as Dask arrays of 100-row chunks, read from ``Recorded``s."""

    def prepare(self) -> None:
        x, t = get_spiral()
        self.x_source, self.t_source = Recorded(x), Recorded(t)
        self.data = da.from_array(self.x_source, chunks=(100, 2))
        self.label = da.from_array(self.t_source, chunks=100)


class NumpySpiral(Dataset[Array]):
    def prepare(self) -> None:
        self.data, self.label = get_spiral()


def test_batches_are_read_as_drawn_and_equal_numpys() -> None:
    lazy = DaskSpiral()
    loader = DataLoader(lazy, batch_size=30, shuffle=False)
    assert lazy.x_source.reads == []  # nothing read before a batch is drawn
    x, t = next(loader)
    assert type(x) is np.ndarray and type(t) is np.ndarray
    assert lazy.x_source.reads == [(0, 100)] and lazy.t_source.reads == [(0, 100)]
    np.testing.assert_array_equal(x, get_spiral()[0][:30])
    shuffled = [DataLoader(d, batch_size=64, seed=3) for d in (DaskSpiral(), NumpySpiral())]
    for (xd, td), (xn, tn) in zip(*shuffled, strict=True):
        np.testing.assert_array_equal(xd, xn)
        np.testing.assert_array_equal(td, tn)


def _losses(dataset: Dataset[Array]) -> list[float]:
    np.random.seed(0)  # the MLP's initial weights
    model = MLP((10, 3))
    optimizer = optimizers.SGD(1.0).setup(model)
    losses = []
    for _ in range(3):
        for x, t in DataLoader(dataset, batch_size=30, seed=0):
            loss = functions.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            losses.append(float(loss.data))
    return losses


def test_the_spiral_mlp_trains_from_dask_as_from_numpy() -> None:
    assert _losses(DaskSpiral()) == _losses(NumpySpiral())


class Unlabelled(Dataset[None]):
    def prepare(self) -> None:
        self.data = da.from_array(get_spiral()[0], chunks=(100, 2))


def test_blocks_are_read_whole_once_and_give_numpys_batches() -> None:
    lazy = DaskSpiral()
    loader = DataLoader(lazy, batch_size=32, seed=5, block=70)  # blocks across chunks
    reference = DataLoader(NumpySpiral(), batch_size=32, seed=5, block=70)
    computations: list[object] = []
    with Callback(start=computations.append):
        epochs = [list(zip(loader, reference, strict=True)) for _ in range(2)]
    assert len(epochs[0]) == 10
    for batches in epochs:
        for (xd, td), (xn, tn) in batches:
            assert type(xd) is np.ndarray and type(td) is np.ndarray
            np.testing.assert_array_equal(xd, xn)
            np.testing.assert_array_equal(td, tn)
    # each of the 5 blocks (70 rows, across the chunks of 100) read once per epoch, in at most
    # 5 computations (two blocks a batch straddles are one); Dask may widen a read to a chunk
    assert len(computations) <= 2 * 5
    assert sum(stop - start for start, stop in lazy.x_source.reads) <= 2 * (300 + 30)
    x, t = next(DataLoader(Unlabelled(), batch_size=32, seed=5, block=70))
    assert t is None
    first = next(DataLoader(NumpySpiral(), batch_size=32, seed=5, block=70))
    np.testing.assert_array_equal(x, first[0])
