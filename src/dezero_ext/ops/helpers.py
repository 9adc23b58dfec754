"""Helpers for op authors: what the built-in and bundled ops use, public for every plugin.

Array level (for ``forward``):

- ``normalize_axis(axis, ndim, op)``: a reduction's ``axis`` (int, tuple or None) as a sorted
  tuple of non-negative axes, with errors naming the op;
- ``check_axis(axis, shape, op)``: one axis, for ops along a single axis (``softmax``);
- ``kept_shape(shape, axes)``: the ``keepdims=True`` shape of a reduction;
- ``broadcast_error(op, *arrays)``: the error to raise for shapes that do not broadcast;
- ``sum_to_shape(array, shape)``: sum an array down to a shape it was broadcast from;
- ``scatter_add_array(gy, index, shape)``: zeros of ``shape`` with ``gy`` added at ``index``
  (repeats adding up), for a ``backward_array``.

Variable level (for ``backward``, differentiable):

- ``sum_to(gx, shape)`` and ``unbroadcast(gx, x)``: the gradient of a broadcast input;
- ``scatter_add(gy, index, shape)``: the gradient of a gather (``x[index]``, embeddings),
  repeated indices adding up.
"""

from __future__ import annotations

from dezero_ext.ops._util import (
    Axis,
    broadcast_error,
    check_axis,
    kept_shape,
    normalize_axis,
    sum_to_shape,
)
from dezero_ext.ops.shape import ScatterAdd, scatter_add, scatter_add_array, sum_to, unbroadcast

__all__ = [
    "Axis",
    "ScatterAdd",
    "broadcast_error",
    "check_axis",
    "kept_shape",
    "normalize_axis",
    "scatter_add",
    "scatter_add_array",
    "sum_to",
    "sum_to_shape",
    "unbroadcast",
]
