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

Backends (an op computing on other libraries' arrays, ``core/backend.py``; issue 23):
- ``namespace_of(*arrays, op=name)``: the array namespace of the inputs (``numpy`` itself for
  NumPy's), ``BackendMismatchError`` naming each input's library when they come from two;
- ``BACKENDS``: every backend a declaration's ``backends=`` may list;
- ``device_of(x)``: the device of ``x`` (``"cpu"`` for NumPy's), for an array an op makes in
  ``x``'s library (``xp.asarray(labels, device=device_of(x))``);
- ``reshape_array``, ``broadcast_array``, ``transpose_array``: ``x.reshape``,
  ``np.broadcast_to`` and ``np.transpose`` in the array's own library (the Array API has
  functions, not methods, for these).

Parameter checks (for ``__init__``: a wrong parameter is refused when the op is built, with an
error naming the op, the parameter and the value given):

- ``check_int``, ``check_bool``, ``check_number`` (a finite number in a range),
  ``check_ints`` (a tuple of ints), ``check_axis_type`` (a reduction's ``axis``),
  ``check_array`` (a NumPy array of some dtype kinds); ``given(value)`` names a value as
  these errors do.

References (for a declaration's ``reference=``, computed in Python floats):

- ``elementwise_reference(fn)``: a scalar function (``math.sin``) element by element;
- ``fsum_along(x, axis, fn)``: a function of Python-float lists on each slice along an axis;
- ``reduction_reference(fn)``: a reduction (``axis``, ``keepdims``) from a function of a list.

Variable level (for ``backward``, differentiable):

- ``sum_to(gx, shape)`` and ``unbroadcast(gx, x)``: the gradient of a broadcast input;
- ``scatter_add(gy, index, shape)``: the gradient of a gather (``x[index]``, embeddings),
  repeated indices adding up.

Forward mode (for ``jvp`` and ``jvp_array``; ``ops/tangents.py``):

- ``linear_jvp`` / ``linear_jvp_array``: the rule of an op linear in its inputs (the op on the
  tangents): ``jvp = linear_jvp`` in the class body;
- ``scalar_jvp`` / ``scalar_jvp_array``: the rule of an op with one value out (a loss):
  ``⟨∇f, t⟩`` from its own backward;
- ``tangent_sum(shape, *terms)`` / ``tangent_sum_array``: a sum of terms, None ones (a zero
  tangent) left out, broadcast to the output's shape.
"""

from __future__ import annotations

from dezero_ext.core.backend import BACKENDS, BackendMismatchError, device_of, namespace_of
from dezero_ext.ops._util import (
    Axis,
    broadcast_array,
    broadcast_error,
    check_array,
    check_axis,
    check_axis_type,
    check_bool,
    check_int,
    check_ints,
    check_number,
    given,
    kept_shape,
    normalize_axis,
    reshape_array,
    sum_to_shape,
    transpose_array,
)
from dezero_ext.ops.references import elementwise_reference, fsum_along, reduction_reference
from dezero_ext.ops.shape import ScatterAdd, scatter_add, scatter_add_array, sum_to, unbroadcast
from dezero_ext.ops.tangents import (
    linear_jvp,
    linear_jvp_array,
    scalar_jvp,
    scalar_jvp_array,
    tangent_sum,
    tangent_sum_array,
)

__all__ = [
    "BACKENDS",
    "Axis",
    "BackendMismatchError",
    "ScatterAdd",
    "broadcast_array",
    "broadcast_error",
    "check_array",
    "check_axis",
    "check_axis_type",
    "check_bool",
    "check_int",
    "check_ints",
    "check_number",
    "device_of",
    "elementwise_reference",
    "fsum_along",
    "given",
    "kept_shape",
    "linear_jvp",
    "linear_jvp_array",
    "namespace_of",
    "normalize_axis",
    "reduction_reference",
    "reshape_array",
    "scalar_jvp",
    "scalar_jvp_array",
    "scatter_add",
    "scatter_add_array",
    "sum_to",
    "sum_to_shape",
    "tangent_sum",
    "tangent_sum_array",
    "transpose_array",
    "unbroadcast",
]
