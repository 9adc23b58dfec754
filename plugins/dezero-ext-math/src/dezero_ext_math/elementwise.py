"""Elementwise math ops: sin, cos, tan, tanh, log, log1p, sqrt, abs, clip, maximum, minimum.

Outside an op's mathematical domain (log of a negative number) the forward pass does what
NumPy does, nan with a RuntimeWarning, and the op's ``Domain`` says so (``outside="nan"``).
"""

from __future__ import annotations

import math

import numpy as np

from dezero_ext import Array, Case, Domain, Draw, Function, OpDef, Operand, ShapeRule, Variable
from dezero_ext.ops import sum_to
from dezero_ext.ops.arithmetic import Log  # power's gradient needs it built in; registered here

__all__ = [
    "Abs",
    "Clip",
    "Cos",
    "Log",
    "Log1p",
    "Maximum",
    "Minimum",
    "Sin",
    "Sqrt",
    "Tan",
    "Tanh",
    "abs",
    "clip",
    "cos",
    "log",
    "log1p",
    "maximum",
    "minimum",
    "ops",
    "sin",
    "sqrt",
    "tan",
    "tanh",
]


class Sin(Function):
    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * cos(x)


class Cos(Function):
    def forward(self, x: Array) -> Array:
        return np.cos(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * -sin(x)


class Tan(Function):
    """Tangent; the gradient ``1 + y**2`` reuses the output."""

    def forward(self, x: Array) -> Array:
        return np.tan(x)

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy * (1 + y * y)


class Tanh(Function):
    """Hyperbolic tangent; the gradient ``1 - y**2`` reuses the output."""

    def forward(self, x: Array) -> Array:
        return np.tanh(x)

    def backward(self, gy: Variable) -> Variable:
        return TanhGrad()(self.output(), gy)


class TanhGrad(Function):
    """``gy * (1 - y**2)`` for ``y = tanh(x)``: tanh's gradient as one op instead of three.
    Differentiable: ``d/dy = -2 y gy`` and ``d/dgy = 1 - y**2``."""

    def forward(self, y: Array, gy: Array) -> Array:
        g: Array = gy * (1 - y * y)
        return g

    def backward(self, g: Variable) -> tuple[Variable, Variable]:
        y, gy = self.inputs
        return -2 * y * gy * g, TanhGrad()(y, g)


class Log1p(Function):
    """``log(1 + x)``, accurate for small ``x``: nan below -1, ``-inf`` at -1."""

    def forward(self, x: Array) -> Array:
        return np.log1p(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy / (1 + x)


class Sqrt(Function):
    """Square root: nan below 0; the gradient ``1 / (2 y)`` reuses the output."""

    def forward(self, x: Array) -> Array:
        return np.sqrt(x)

    def backward(self, gy: Variable) -> Variable:
        return gy / (2 * self.output())


class Abs(Function):
    """``|x|``; the derivative at the kink 0 is 0, the mean of the one-sided derivatives."""

    def forward(self, x: Array) -> Array:
        return np.abs(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        # piecewise linear: the slope is a constant of x (its derivative is 0 off the kink)
        return gy * Variable(np.sign(x.data))


class Clip(Function):
    """``x`` limited to ``[low, high]`` (either bound may be None).

    The gradient is 1 inside the interval *and on its bounds* (as DeZero's and PyTorch's
    clip), 0 outside: at a bound it is one of the one-sided derivatives (``kink_rule``
    "between").
    """

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        for name, bound in (("low", low), ("high", high)):
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, (int, float, np.floating))
            ):
                raise TypeError(
                    f"clip: {name} must be a number or None, got {type(bound).__name__} {bound!r}"
                )
        if low is None and high is None:
            raise ValueError("clip: give at least one of low and high")
        if low is not None and high is not None and low > high:
            raise ValueError(f"clip: low {low!r} is above high {high!r}")
        self.low = low
        self.high = high

    def _bounds(self, dtype: np.dtype[np.generic]) -> tuple[Array | None, Array | None]:
        """The bounds as 0-d arrays of the input's dtype: a float32 input stays float32."""
        low = None if self.low is None else np.asarray(self.low, dtype=dtype)
        high = None if self.high is None else np.asarray(self.high, dtype=dtype)
        return low, high

    def forward(self, x: Array) -> Array:
        low, high = self._bounds(x.dtype)
        y: Array = np.clip(x, low, high)
        return y

    def backward(self, gy: Variable) -> Variable:
        x = self.inputs[0].data
        low, high = self._bounds(x.dtype)
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        return gy * Variable(inside.astype(gy.dtype))


def _broadcast_forward(op: str, ufunc: np.ufunc, x0: Array, x1: Array) -> Array:
    try:
        y: Array = ufunc(x0, x1)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {x0.shape} and {x1.shape} do not broadcast "
            "(trailing dimensions must be equal or 1)"
        ) from None
    return y


class _Select(Function):
    """``maximum``/``minimum``: the gradient goes to the selected input; a tie splits it
    evenly (``ties="split"``, as PyTorch's maximum and minimum)."""

    ufunc: np.ufunc = np.maximum

    def forward(self, x0: Array, x1: Array) -> Array:
        return _broadcast_forward(self._label(), type(self).ufunc, x0, x1)

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        a, b = x0.data, x1.data
        # the share of the gradient x0 gets: 1 where it wins, 1/2 on a tie, 0 where it loses
        share = (self.output().data == a).astype(gy.dtype)
        share[np.broadcast_to(a == b, share.shape)] = 0.5
        g0 = gy * Variable(share)
        g1 = gy - g0
        return sum_to(g0, x0.shape), sum_to(g1, x1.shape)


class Maximum(_Select):
    op_name = "maximum"
    ufunc = np.maximum


class Minimum(_Select):
    op_name = "minimum"
    ufunc = np.minimum


def sin(x: Operand) -> Variable:
    """Sine, elementwise."""
    return Sin()(x)


def cos(x: Operand) -> Variable:
    """Cosine, elementwise."""
    return Cos()(x)


def tan(x: Operand) -> Variable:
    """Tangent, elementwise."""
    return Tan()(x)


def tanh(x: Operand) -> Variable:
    """Hyperbolic tangent, elementwise."""
    return Tanh()(x)


def log(x: Operand) -> Variable:
    """Natural logarithm, elementwise (nan below 0, as NumPy)."""
    return Log()(x)


def log1p(x: Operand) -> Variable:
    """``log(1 + x)``, elementwise, accurate near 0 (nan below -1, as NumPy)."""
    return Log1p()(x)


def sqrt(x: Operand) -> Variable:
    """Square root, elementwise (nan below 0, as NumPy)."""
    return Sqrt()(x)


def abs(x: Operand) -> Variable:  # noqa: A001 - NumPy's and DeZero's name
    """``|x|``, elementwise; the gradient at 0 is 0."""
    return Abs()(x)


def clip(x: Operand, low: float | None, high: float | None) -> Variable:
    """``x`` limited to ``[low, high]``; the gradient is 1 inside and on the bounds."""
    return Clip(low, high)(x)


def maximum(x0: Operand, x1: Operand) -> Variable:
    """The larger of ``x0`` and ``x1``, elementwise with broadcasting; ties split the gradient."""
    return Maximum()(x0, x1)


def minimum(x0: Operand, x1: Operand) -> Variable:
    """The smaller of ``x0`` and ``x1``, elementwise with broadcasting; ties split the
    gradient."""
    return Minimum()(x0, x1)


# ---------------------------------------------------------------------- samplers for checks
CLIP_BOUNDS = ((-1.0, 0.5), (-0.5, 1.0), (-1.0, 1.0), (-0.5, 0.5), (None, 0.5), (-0.5, None))
"""The bounds the checks draw; they are the kinks of clip's Domain, so inputs avoid them."""


def _sample_clip(draw: Draw) -> Case:
    low, high = draw.choice(CLIP_BOUNDS)
    return Case((draw.array(draw.shape()),), {"low": low, "high": high})


_GAP = Domain(-1.0, 1.0, kinks=(0.0,), margin=0.1)


def _sample_select(draw: Draw) -> Case:
    """Two broadcastable inputs that are never within 0.1 of each other (no near-ties, where
    the gradient jumps and central differences straddle the jump)."""
    big = draw.shape(min_dims=1, max_dims=3)
    small = tuple(1 if draw.boolean() else n for n in big[draw.integer(0, len(big)) :])
    base = draw.array(small)
    other = base + draw.array(big, _GAP)  # broadcasts base up to big
    pair = (base, other) if draw.boolean() else (other, base)
    return Case(pair)


_CIRCLE = Domain(-2 * math.pi, 2 * math.pi)


def ops() -> list[OpDef]:
    """The OpDefs of this module (the package's hook returns them)."""
    return [
        OpDef("sin", Sin, domains=(_CIRCLE,), order=3, description="sine"),
        OpDef("cos", Cos, domains=(_CIRCLE,), order=3, description="cosine"),
        OpDef(
            "tan",
            Tan,
            # one branch, kept 0.27 away from the poles at +-pi/2 (where tan' exceeds 1000)
            domains=(Domain(-1.3, 1.3),),
            order=3,
            description="tangent",
        ),
        OpDef("tanh", Tanh, domains=(Domain(-4.0, 4.0),), order=3, description="tanh"),
        OpDef(
            "log",
            Log,
            domains=(Domain(0.2, 4.0, positive=True, outside="nan"),),
            order=3,
            description="natural logarithm; nan below 0",
        ),
        OpDef(
            "log1p",
            Log1p,
            domains=(Domain(-0.8, 3.0, outside="nan"),),
            order=3,
            description="log(1 + x); nan below -1",
        ),
        OpDef(
            "sqrt",
            Sqrt,
            domains=(Domain(0.1, 4.0, positive=True, outside="nan"),),
            order=3,
            description="square root; nan below 0",
        ),
        OpDef(
            "abs",
            Abs,
            domains=(Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="mean"),),
            order=2,
            description="|x|; abs'(0) = 0",
        ),
        OpDef(
            "clip",
            Clip,
            domains=(Domain(-2.0, 2.0, kinks=(-1.0, -0.5, 0.5, 1.0), kink_rule="between"),),
            sample=_sample_clip,
            order=2,
            description="x limited to [low, high]; gradient 1 on the bounds",
        ),
        OpDef(
            "maximum",
            Maximum,
            arity=2,
            domains=(Domain(-2.0, 2.0),),
            shape_rule=ShapeRule.BROADCAST,
            sample=_sample_select,
            order=2,
            ties="split",
            description="elementwise max of two inputs; ties split the gradient",
        ),
        OpDef(
            "minimum",
            Minimum,
            arity=2,
            domains=(Domain(-2.0, 2.0),),
            shape_rule=ShapeRule.BROADCAST,
            sample=_sample_select,
            order=2,
            ties="split",
            description="elementwise min of two inputs; ties split the gradient",
        ),
    ]
