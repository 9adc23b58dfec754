"""Central differences of an elementwise op in one call: the points a derivative needs, stacked
along a new leading axis, evaluated at once.

An op that declares ``elementwise=True`` computes each output element from the elements at
the same position of its inputs only, so evaluating it on ``stack([x_1, ..., x_m])`` gives
``stack([f(x_1), ..., f(x_m)])``: one call (one graph, one backward pass at higher orders)
instead of ``m``. The numerical derivative takes exactly the same samples as with one call
per point, and every stacked call is checked: it also evaluates the unperturbed point, which
must equal the separate evaluation at that point bit for bit (NaN included); where it does
not (a declaration that is wrong, an op that mixes elements along the new axis, a NumPy loop
that rounds differently by position), or where the stacked call raises, the points are
evaluated one by one, as without the declaration. A wrong declaration costs time, never a
verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from dezero_ext.testing.timeout import fired

__all__ = ["Points", "StackedFunction", "align", "evaluate_points", "tiled"]

F64Array: TypeAlias = npt.NDArray[np.float64]
Points: TypeAlias = Sequence[Sequence[F64Array]]
"""Argument lists: ``points[r][i]`` is input ``i`` at point ``r``."""

StackedFunction: TypeAlias = Callable[..., tuple[npt.NDArray[np.floating], ...]]
"""``f(*stacked) -> outputs``: input ``i`` of shape ``(m,) + x_i.shape``, each output of
shape ``(m, ...)``, row ``r`` the function at point ``r``."""

Single: TypeAlias = Callable[[Sequence[F64Array]], tuple[F64Array, ...]]


def evaluate_points(
    single: Single,
    stacked: StackedFunction | None,
    points: Points,
    center: Sequence[F64Array],
    at_center: tuple[F64Array, ...],
) -> list[tuple[F64Array, ...]]:
    """``[single(p) for p in points]``, in one stacked call when ``stacked`` is given and its
    row at ``center`` equals ``at_center`` (``single(center)``, computed by the caller)."""
    if stacked is not None and points:
        rows = _stacked_rows(stacked, [*points, center], at_center)
        if rows is not None:
            return rows[:-1]
    return [single(p) for p in points]


def _stacked_rows(
    stacked: StackedFunction, points: Points, at_center: tuple[F64Array, ...]
) -> list[tuple[F64Array, ...]] | None:
    """Each point's outputs from one stacked call, None where it cannot be trusted."""
    arity = len(points[0])
    inputs = [np.stack([p[i] for p in points]) for i in range(arity)]
    try:  # NumPy's warnings as they are: an error under -W error falls back, as below
        outputs = stacked(*inputs)
    except Exception:  # noqa: BLE001 - one call per point reports what the op raises
        late = fired()
        if late is not None:  # the time limit, landed inside the op's own error handling
            raise late from None
        return None
    m = len(points)
    if len(outputs) != len(at_center):
        return None
    shaped: list[F64Array] = []
    for y, y0 in zip(outputs, at_center, strict=True):
        rows: F64Array = np.asarray(y, dtype=np.float64)
        if rows.size != m * y0.size:
            return None
        rows = rows.reshape((m, *y0.shape))
        if not np.array_equal(rows[-1], y0, equal_nan=True):
            return None
        shaped.append(rows)
    return [tuple(y[r] for y in shaped) for r in range(m)]


def align(arrays: Sequence[np.ndarray], rank: int) -> list[np.ndarray]:
    """Stacked arrays ``(m,) + shape`` as ``(m, 1, ..., 1) + shape`` with ``rank`` dimensions
    after the first: inputs of different ranks broadcast as they do unstacked."""
    return [a.reshape((a.shape[0],) + (1,) * (rank - a.ndim + 1) + a.shape[1:]) for a in arrays]


def tiled(arrays: Sequence[np.ndarray], m: int, rank: int) -> list[np.ndarray]:
    """Each array repeated ``m`` times along a new first axis, aligned to ``rank`` (a
    cotangent for every stacked point)."""
    return align([np.repeat(a[np.newaxis], m, axis=0) for a in arrays], rank)
