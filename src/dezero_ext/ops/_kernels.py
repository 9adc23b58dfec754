"""Kernels outside the Array API standard, each with one implementation per backend.

The standard has no in-place scatter (``np.add.at``) and no sliding windows, so an op that
needs one calls it here instead of writing a NumPy call inline: NumPy's implementation is
today's code, unchanged; the Array API one (array-api-strict, Dask, CuPy) is built from
standard functions only and never moves data between libraries. A case a backend cannot do
raises ``NotImplementedError`` naming the kernel, the backend and what to do instead.

- ``scatter_add(gy, index, shape)``: zeros of ``shape`` with ``gy`` added at ``index``,
  repeated indices adding up (the gradient of ``x[index]``). Array API: basic indexing by
  assignment into zeros; one integer array on the first axis by a one-hot matrix product
  (repeats add up, no scatter needed); other advanced indexes are NumPy only for now.
- ``take(x, index)``: ``x[index]`` where ``index`` may hold NumPy integer arrays (moved to
  ``x``'s library: an index is the caller's parameter, not an input).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from dezero_ext.core.backend import backend_of, device_of, namespace_of
from dezero_ext.core.variable import Array, Index

__all__ = ["scatter_add", "take"]


def _parts(index: Index) -> tuple[Any, ...]:
    return index if isinstance(index, tuple) else (index,)


def _array_axis0(index: Index) -> np.ndarray[Any, Any] | None:
    """The integer array of an index that is one integer array on the first axis (``x[i]``,
    ``x[i, ...]``, ``x[i, :]``), else None."""
    parts = _parts(index)
    first, rest = parts[0], parts[1:]
    if not isinstance(first, np.ndarray) or first.dtype.kind not in "iu":
        return None
    if all(p is Ellipsis or (isinstance(p, slice) and p == slice(None)) for p in rest):
        return first
    return None


def _full(index: Index) -> tuple[Any, ...]:
    """A basic index with a trailing ``...`` when it has none: the Array API leaves the
    axes an index does not name undefined (NumPy's ``x[1]`` is ``x[1, ...]``)."""
    parts = _parts(index)
    return parts if any(p is Ellipsis for p in parts) else (*parts, Ellipsis)


def _is_basic(index: Index) -> bool:
    return not any(isinstance(p, np.ndarray | list) for p in _parts(index))


def _unsupported(kernel: str, x: object, index: Index) -> NotImplementedError:
    return NotImplementedError(
        f"{kernel}: index {index!r} on a {backend_of(x)} array: only basic indexes (ints, "
        "slices, ..., None) and one integer array on the first axis run outside NumPy for "
        "now; index the NumPy array, or split the index into those steps"
    )


def take(x: Array, index: Index) -> Array:
    """``x[index]`` in ``x``'s library."""
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x[index])  # NumPy's indexing
    if _is_basic(index):
        return x[_full(index)]  # an Array API array
    rows = _array_axis0(index)
    if rows is None:
        raise _unsupported("get_item", x, index)
    xp = namespace_of(x, op="get_item")
    flat = xp.asarray(np.reshape(rows % x.shape[0], -1), device=device_of(x))
    picked = xp.take(x, flat, axis=0)
    return xp.reshape(picked, (*rows.shape, *x.shape[1:]))  # x's library


def scatter_add(gy: Array, index: Index, shape: tuple[int, ...]) -> Array:
    """Zeros of ``shape`` with ``gy`` added at ``index`` (repeated indices adding up)."""
    if isinstance(gy, np.ndarray | np.generic):
        gx = np.zeros(shape, dtype=gy.dtype)
        if _is_basic(index):
            gx[index] = gy  # basic indexing never repeats an element: plain assignment
        else:
            np.add.at(gx, index, gy)  # type: ignore[arg-type]  # stubs narrower than add.at
        return gx
    xp = namespace_of(gy, op="scatter_add")
    if _is_basic(index):
        return _assign(xp, gy, index, shape)
    rows = _array_axis0(index)
    if rows is None:
        raise _unsupported("scatter_add", gy, index)
    return _one_hot_sum(xp, gy, rows, shape)


def _assign(xp: ModuleType, gy: Array, index: Index, shape: tuple[int, ...]) -> Array:
    gx = xp.zeros(shape, dtype=gy.dtype, device=device_of(gy))
    # without the new axes (None), which assignment does not take: gy without them too
    plain = tuple(p for p in _full(index) if p is not None)
    selected = np.broadcast_to(np.empty((), dtype=bool), shape)[plain].shape  # no copy
    gx[plain] = xp.reshape(gy, selected)
    return gx  # type: ignore[no-any-return]  # gy's library


def _one_hot_sum(
    xp: ModuleType, gy: Array, rows: np.ndarray[Any, Any], shape: tuple[int, ...]
) -> Array:
    """``gy`` summed into the rows it came from: ``one_hot(rows).T @ gy`` (a row picked
    twice gets both gradients)."""
    n, k = shape[0], rows.size
    hot = xp.asarray(np.reshape(rows % n, (k, 1)) == np.arange(n), device=device_of(gy))  # (k, n)
    hot = xp.astype(hot, gy.dtype)
    rest = shape[1:]
    flat = xp.reshape(gy, (k, int(np.prod(rest, dtype=np.int64))))
    return xp.reshape(xp.matrix_transpose(hot) @ flat, shape)  # type: ignore[no-any-return]  # gy's library
