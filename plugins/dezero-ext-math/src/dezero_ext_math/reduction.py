"""A numerically stable ``logsumexp``; ``max`` and ``min`` are built into dezero_ext
(``x.max()`` needs them) and re-exported here."""

from __future__ import annotations

import builtins
import math

import numpy as np

from dezero_ext import Array, Domain, Function, Operand, OpSet, ShapeRule, Variable
from dezero_ext.opdef import ErrorInput
from dezero_ext.ops import broadcast_to, exp, max, min, reshape  # noqa: A004
from dezero_ext.ops.helpers import (
    BACKENDS,
    Axis,
    check_axis_type,
    check_bool,
    device_of,
    namespace_of,
    normalize_axis,
    reduction_reference,
)
from dezero_ext.ops.reduction import Max, Min

__all__ = ["LogSumExp", "Max", "Min", "logsumexp", "max", "min", "ops"]

ops = OpSet()


def _logsumexp_row(row: list[float]) -> float:
    """The reference: the largest term factored out, the rest summed exactly (``fsum``)."""
    m = builtins.max(row)
    return m + math.log(math.fsum(math.exp(v - m) for v in row))


@ops.declare(
    "logsumexp",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    shape_rule=ShapeRule.REDUCTION,
    order=3,
    description="log(sum(exp(x))) over axes, stable",
    reference=reduction_reference(_logsumexp_row),
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"axis 2 is out of range", {"axis": 2}),
    ),
)
class LogSumExp(Function):
    """``log(sum(exp(x)))`` over ``axis``, computed as ``m + log(sum(exp(x - m)))`` with ``m``
    the maximum (no overflow). The gradient ``exp(x - y)`` (the softmax) reuses the output."""

    saves_output = True

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = check_axis_type(axis, "logsumexp")
        self.keepdims = check_bool(keepdims, "logsumexp", "keepdims")

    def forward(self, x: Array) -> Array:
        self.x = x
        axes = normalize_axis(self.axis, x.ndim, "logsumexp")
        if not isinstance(x, np.ndarray | np.generic):
            return self._forward_array_api(x, axes)
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        # all -inf (or an empty axis, or +inf): shift by nothing
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer here
            y: Array = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        self.kept_shape = y.shape
        if not self.keepdims:
            y = y.reshape([n for i, n in enumerate(y.shape) if i not in axes])
        return y

    def _forward_array_api(self, x: Array, axes: tuple[int, ...]) -> Array:
        """``forward`` on another library's arrays (no ``initial=``: an empty axis is
        refused by its ``max``)."""
        xp = namespace_of(x, op="logsumexp")
        if 0 in x.shape:  # nothing to shift by (Dask's max raises on size 0)
            kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
            m = xp.zeros(kept, dtype=x.dtype, device=device_of(x))
        else:
            m = xp.max(x, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # all -inf or +inf: no shift
        y = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
        self.kept_shape = y.shape
        if self.keepdims:
            return y  # type: ignore[no-any-return]  # x's library
        return xp.reshape(y, tuple(n for i, n in enumerate(y.shape) if i not in axes))  # type: ignore[no-any-return]  # x's library

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        y = reshape(self.output(), self.kept_shape)
        softmax = exp(x - broadcast_to(y, x.shape))
        return broadcast_to(reshape(gy, self.kept_shape), x.shape) * softmax

    def backward_array(self, gy: Array) -> Array:
        x, kept = self.x, self.kept_shape
        if not isinstance(x, np.ndarray | np.generic):
            xp = namespace_of(x, op="logsumexp")
            softmax = xp.exp(x - xp.reshape(self.output_array(), kept))
            return xp.reshape(gy, kept) * softmax  # x's library
        softmax = np.exp(x - self.output_array().reshape(kept))
        g: Array = gy.reshape(kept) * softmax
        return g

    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs  # the softmax-weighted sum of the tangent over the axes
        y = reshape(self.output(), self.kept_shape)
        softmax = exp(x - broadcast_to(y, x.shape))
        axes = normalize_axis(self.axis, x.ndim, "logsumexp")
        return (tx * softmax).sum(axis=axes, keepdims=self.keepdims)

    def jvp_array(self, tx: Array) -> Array:
        x, kept = self.x, self.kept_shape
        softmax = np.exp(x - self.output_array().reshape(kept))
        axes = normalize_axis(self.axis, x.ndim, "logsumexp")
        return np.asarray(np.sum(tx * softmax, axis=axes, keepdims=self.keepdims))


def logsumexp(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """``log(sum(exp(x)))`` over ``axis``, without overflow for large ``x``."""
    return LogSumExp(axis, keepdims)(x)
