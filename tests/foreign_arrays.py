"""Arrays of other libraries for the backend tests (``test_*_dask.py``): NumPy data moved to
array-api-strict or Dask (two chunks per axis where the axis allows), and a counter of Dask
computations (a graph must not compute before the user asks). The callers importorskip
``array_api_strict`` and ``dask`` first."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

FOREIGN = ("array-api-strict", "dask")
"""The backends these tests move data to (CuPy needs a GPU: not on CI's machines)."""


def to_backend(name: str, array: np.ndarray[Any, Any]) -> Any:
    """``array`` as an array of the backend ``name`` (``numpy``: itself)."""
    if name == "numpy":
        return array
    if name == "array-api-strict":
        import array_api_strict

        return array_api_strict.asarray(array)
    if name == "dask":
        import dask.array as da

        chunks = tuple(max(1, (n + 1) // 2) for n in array.shape)
        return da.from_array(array, chunks=chunks)  # type: ignore[no-untyped-call]  # dask is untyped
    raise ValueError(f"to_backend: unknown backend {name!r}")


def to_numpy(array: Any) -> np.ndarray[Any, Any]:
    """Any backend's array as a NumPy array (a Dask array is computed here, once)."""
    if isinstance(array, np.ndarray | np.generic):
        return np.asarray(array)
    if type(array).__module__.startswith("dask"):
        return np.asarray(array.compute())
    return np.asarray(array._array)  # array-api-strict's NumPy buffer (it has no public one)


class ComputeCounter:
    """How many times Dask computed a graph while the counter was open."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.contextmanager
def count_computes() -> Iterator[ComputeCounter]:
    """Count Dask computations (every scheduler call on a local scheduler) in the block."""
    from dask.callbacks import Callback

    counter = ComputeCounter()

    def start(dsk: object) -> None:
        counter.count += 1

    with Callback(start=start):  # type: ignore[no-untyped-call]  # dask is untyped
        yield counter
