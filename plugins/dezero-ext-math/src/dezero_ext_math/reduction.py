"""Reductions over axes: max, min (ties split the gradient) and a numerically stable logsumexp."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from dezero_ext import Array, Domain, Function, OpDef, Operand, ShapeRule, Variable
from dezero_ext.ops import broadcast_to, exp, reshape

__all__ = ["LogSumExp", "Max", "Min", "logsumexp", "max", "min", "ops", "reduction_axes"]

Axis = int | tuple[int, ...] | None


def reduction_axes(axis: Axis, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (None: all); NumPy integers accepted.

    A 0-d input may be reduced over axis 0 or -1, as in NumPy (no axes are reduced). A bad
    axis raises ``ValueError`` naming the op.
    """
    if axis is None:
        return tuple(range(ndim))
    parts = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out: list[int] = []
    for a in parts:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
        bound = ndim or 1  # (the builtin max is shadowed by this module's op)
        if not -bound <= a < bound:
            raise ValueError(
                f"{op}: axis {int(a)} is out of range for a {ndim}-d input "
                f"(valid: {-ndim} to {ndim - 1})"
            )
        out.append(int(a) % bound)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class _Extreme(Function):
    """``max``/``min`` over ``axis``. The gradient goes to the extreme element; when several
    elements tie for it, they share it evenly (``ties="split"``, as ``torch.amax``)."""

    select: ClassVar[Callable[..., Array]] = staticmethod(np.max)

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x: Array) -> Array:
        axes = reduction_axes(self.axis, x.ndim, self._label())
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(
                f"{self._label()}: cannot reduce an input of shape {x.shape} over axis "
                f"{self.axis!r}: an empty axis has no {self._label()} (NumPy raises too)"
            )
        kept: Array = type(self).select(x, axis=axes, keepdims=True)
        self.axes = axes
        self.kept_shape = kept.shape
        if self.keepdims:
            return kept
        return kept.reshape(tuple(n for i, n in enumerate(kept.shape) if i not in axes))

    def backward(self, gy: Variable) -> Variable:
        # the weights are computed here, not in forward: nothing is kept under no_grad
        x = self.inputs[0].data
        hit = x == self.output().data.reshape(self.kept_shape)
        with np.errstate(invalid="ignore"):  # a nan slice has no hit: its gradient is nan
            weights = (hit / np.sum(hit, axis=self.axes, keepdims=True)).astype(x.dtype)
        return broadcast_to(reshape(gy, self.kept_shape), x.shape) * Variable(weights)


class Max(_Extreme):
    op_name = "max"
    select = staticmethod(np.max)


class Min(_Extreme):
    op_name = "min"
    select = staticmethod(np.min)


class LogSumExp(Function):
    """``log(sum(exp(x)))`` over ``axis``, computed as ``m + log(sum(exp(x - m)))`` with ``m``
    the maximum (no overflow). The gradient ``exp(x - y)`` (the softmax) reuses the output."""

    op_name = "logsumexp"

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x: Array) -> Array:
        axes = reduction_axes(self.axis, x.ndim, "logsumexp")
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        # all -inf (or an empty axis, or +inf): shift by nothing
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer here
            y: Array = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        self.kept_shape = y.shape
        if not self.keepdims:
            y = y.reshape([n for i, n in enumerate(y.shape) if i not in axes])
        return y

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        y = reshape(self.output(), self.kept_shape)
        softmax = exp(x - broadcast_to(y, x.shape))
        return broadcast_to(reshape(gy, self.kept_shape), x.shape) * softmax


def max(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """The largest element over ``axis``; tied maxima share the gradient evenly."""
    return Max(axis, keepdims)(x)


def min(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """The smallest element over ``axis``; tied minima share the gradient evenly."""
    return Min(axis, keepdims)(x)


def logsumexp(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """``log(sum(exp(x)))`` over ``axis``, without overflow for large ``x``."""
    return LogSumExp(axis, keepdims)(x)


def ops() -> list[OpDef]:
    """The OpDefs of this module (the package's hook returns them)."""
    reduction = ShapeRule.REDUCTION
    # distinct: elements drawn 0.05 apart, so no near-tie for the maximum (where the
    # gradient jumps) falls within a finite-difference step (~1e-5); [-3, 3] holds 121 such
    # values, room for the checker's largest inputs (4 x 4 x 4)
    distinct = Domain(-3.0, 3.0, distinct=True, margin=0.05)
    return [
        OpDef(
            "max",
            Max,
            domains=(distinct,),
            shape_rule=reduction,
            order=2,
            ties="split",
            description="maximum over axes; tied maxima split the gradient",
        ),
        OpDef(
            "min",
            Min,
            domains=(distinct,),
            shape_rule=reduction,
            order=2,
            ties="split",
            description="minimum over axes; tied minima split the gradient",
        ),
        OpDef(
            "logsumexp",
            LogSumExp,
            domains=(Domain(-3.0, 3.0),),
            shape_rule=reduction,
            order=3,
            description="log(sum(exp(x))) over axes, stable",
        ),
    ]
