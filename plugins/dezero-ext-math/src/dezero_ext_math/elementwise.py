"""Elementwise math ops: sin, cos, tan, tanh, log1p, sqrt, clip, maximum, minimum.

Outside an op's mathematical domain (log of a negative number) the forward pass does what
NumPy does, nan with a RuntimeWarning, and the op's ``Domain`` says so (``outside="nan"``).
``log`` and ``abs`` are built into dezero_ext (``power``'s gradient and ``abs(x)`` need them);
this module re-exports them.
"""

from __future__ import annotations

import builtins
import math
from types import ModuleType

import numpy as np
from numpy import float64, ndarray

from dezero_ext import Array, Case, Domain, Draw, Function, Operand, OpSet, ShapeRule, Variable
from dezero_ext.opdef import ErrorInput
from dezero_ext.ops import abs, log  # noqa: A004 - built in, re-exported
from dezero_ext.ops.arithmetic import Abs, Log
from dezero_ext.ops.helpers import (
    BACKENDS,
    broadcast_error,
    device_of,
    elementwise_reference,
    given,
    namespace_of,
    sum_to,
    sum_to_shape,
    tangent_sum,
    tangent_sum_array,
)

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
    "TanhGrad",
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

ops = OpSet()


_SCALAR: type = float64  # what a 0-d input comes as, most often (input_array): one test


def _in_dtype(mask: Array, dtype: np.dtype[np.generic]) -> Array:
    """A mask kept by ``forward`` in ``dtype``: another library's is made in it already."""
    if isinstance(mask, ndarray | np.generic):
        return mask.astype(dtype, copy=False)
    return mask


def _namespace(x: Array) -> ModuleType:
    """``x``'s array namespace, for an array of another library than NumPy."""
    return namespace_of(x, op="dezero_ext_math")


_CIRCLE = Domain(-2 * math.pi, 2 * math.pi)


@ops.declare(
    "sin",
    backends=BACKENDS,
    elementwise=True,
    domains=_CIRCLE,
    order=3,
    description="sine",
    reference=elementwise_reference(math.sin),
)
class Sin(Function):
    saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return _namespace(x).sin(x)  # type: ignore[no-any-return]  # x's library
        return np.sin(x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return np.sin(x)

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{sin}({x0})", ("{gy} * {cos}({x0})",), {"sin": np.sin, "cos": np.cos})

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * cos(x)

    def backward_array(self, gy: Array) -> Array:
        x = self.input_array()
        if x.__class__ is not _SCALAR and not isinstance(x, ndarray | np.generic):
            return gy * _namespace(x).cos(x)  # x's library
        return gy * np.cos(x)

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def sin(x: Operand) -> Variable:
    """Sine, elementwise."""
    return Sin()(x)


@ops.declare(
    "cos",
    backends=BACKENDS,
    elementwise=True,
    domains=_CIRCLE,
    order=3,
    description="cosine",
    reference=elementwise_reference(math.cos),
)
class Cos(Function):
    saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return _namespace(x).cos(x)  # type: ignore[no-any-return]  # x's library
        return np.cos(x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return np.cos(x)

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{cos}({x0})", ("{gy} * -{sin}({x0})",), {"sin": np.sin, "cos": np.cos})

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * -sin(x)

    def backward_array(self, gy: Array) -> Array:
        x = self.input_array()
        if x.__class__ is not _SCALAR and not isinstance(x, ndarray | np.generic):
            return gy * -_namespace(x).sin(x)  # x's library
        return gy * -np.sin(x)

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def cos(x: Operand) -> Variable:
    """Cosine, elementwise."""
    return Cos()(x)


# one branch, kept 0.27 away from the poles at +-pi/2 (where tan' exceeds 1000)
@ops.declare(
    "tan",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(-1.3, 1.3),
    order=3,
    description="tangent",
    reference=elementwise_reference(math.tan),
)
class Tan(Function):
    """Tangent; the gradient ``1 + y**2`` reuses the output."""

    saves_inputs = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return _namespace(x).tan(x)  # type: ignore[no-any-return]  # x's library
        return np.tan(x)

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy * (1 + y * y)

    def backward_array(self, gy: Array) -> Array:
        y = self.output_array()
        g: Array = gy * (1 + y * y)
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def tan(x: Operand) -> Variable:
    """Tangent, elementwise."""
    return Tan()(x)


@ops.declare(
    "tanh",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(-4.0, 4.0),
    order=3,
    description="tanh",
    reference=elementwise_reference(math.tanh),
)
class Tanh(Function):
    """Hyperbolic tangent; the gradient ``1 - y**2`` reuses the output."""

    saves_inputs = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return _namespace(x).tanh(x)  # type: ignore[no-any-return]  # x's library
        return np.tanh(x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return np.tanh(x)

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{tanh}({x0})", ("{gy} * (1 - {y} * {y})",), {"tanh": np.tanh})

    def backward(self, gy: Variable) -> Variable:
        return TanhGrad()(self.output(), gy)

    def backward_array(self, gy: Array) -> Array:
        y = self.output_array()
        g: Array = gy * (1 - y * y)
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def tanh(x: Operand) -> Variable:
    """Hyperbolic tangent, elementwise."""
    return Tanh()(x)


class TanhGrad(Function):
    """``gy * (1 - y**2)`` for ``y = tanh(x)``: tanh's gradient as one op instead of three.
    Differentiable: ``d/dy = -2 y gy`` and ``d/dgy = 1 - y**2``."""

    saves_output = False

    def forward(self, y: Array, gy: Array) -> Array:
        self.y, self.gy = y, gy
        g: Array = gy * (1 - y * y)
        return g

    def backward(self, g: Variable) -> tuple[Variable, Variable]:
        y, gy = self.inputs
        return -2 * y * gy * g, TanhGrad()(y, g)

    def backward_array(self, g: Array) -> tuple[Array, Array]:
        y, gy = self.y, self.gy
        return -2 * y * gy * g, g * (1 - y * y)

    def jvp(self, ty: Variable | None, tgy: Variable | None) -> Variable | None:
        y, gy = self.inputs  # d(gy (1 - y**2)) = -2 y gy ty + (1 - y**2) tgy
        return tangent_sum(
            self.output().shape,
            None if ty is None else -2 * y * gy * ty,
            None if tgy is None else TanhGrad()(y, tgy),
        )


@ops.declare(
    "log1p",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(-0.8, 3.0, outside="nan"),
    order=3,
    description="log(1 + x); nan below -1",
    reference=elementwise_reference(math.log1p),
)
class Log1p(Function):
    """``log(1 + x)``, accurate for small ``x``: nan below -1, ``-inf`` at -1."""

    saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return _namespace(x).log1p(x)  # type: ignore[no-any-return]  # x's library
        return np.log1p(x)

    def backward_array(self, gy: Array) -> Array:
        g: Array = gy / (1 + self.input_array())
        return g

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy / (1 + x)

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def log1p(x: Operand) -> Variable:
    """``log(1 + x)``, elementwise, accurate near 0 (nan below -1, as NumPy)."""
    return Log1p()(x)


@ops.declare(
    "sqrt",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(0.1, 4.0, positive=True, outside="nan"),
    order=3,
    description="square root; nan below 0",
    reference=elementwise_reference(math.sqrt),
)
class Sqrt(Function):
    """Square root: nan below 0; the gradient ``1 / (2 y)`` reuses the output."""

    saves_inputs = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return _namespace(x).sqrt(x)  # type: ignore[no-any-return]  # x's library
        return np.sqrt(x)

    def backward(self, gy: Variable) -> Variable:
        return gy / (2 * self.output())

    def backward_array(self, gy: Array) -> Array:
        g: Array = gy / (2 * self.output_array())
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def sqrt(x: Operand) -> Variable:
    """Square root, elementwise (nan below 0, as NumPy)."""
    return Sqrt()(x)


CLIP_BOUNDS = ((-1.0, 0.5), (-0.5, 1.0), (-1.0, 1.0), (-0.5, 0.5), (None, 0.5), (-0.5, None))


def _clip_reference(x: Array, low: float | None = None, high: float | None = None) -> Array:
    """``clip`` element by element in Python floats."""

    def one(v: float) -> float:
        v = v if low is None else builtins.max(v, low)
        return v if high is None else builtins.min(v, high)

    return elementwise_reference(one)(x)


def _sample_clip(draw: Draw) -> Case:
    low, high = draw.choice(CLIP_BOUNDS)
    return Case((draw.array(draw.shape()),), {"low": low, "high": high})


@ops.declare(
    "clip",
    elementwise=True,
    backends=BACKENDS,
    domains=Domain(-2.0, 2.0, kinks=(-1.0, -0.5, 0.5, 1.0), kink_rule="between"),
    sample=_sample_clip,
    order=2,
    description="x limited to [low, high]; gradient 1 on the bounds",
    reference=_clip_reference,
    error_inputs=(
        ErrorInput(
            (np.ones(3),), ValueError, r"low 1.0 is above high 0.0", {"low": 1.0, "high": 0.0}
        ),
    ),
)
class Clip(Function):
    """``x`` limited to ``[low, high]`` (either bound may be None).

    The gradient is 1 inside the interval *and on its bounds* (as DeZero's and PyTorch's
    clip), 0 outside: at a bound it is one of the one-sided derivatives (``kink_rule``
    "between").
    """

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        for name, bound in (("low", low), ("high", high)):
            if bound is not None and (
                isinstance(bound, (bool, np.bool_))
                or not isinstance(bound, (int, float, np.integer, np.floating))
            ):
                raise TypeError(f"clip: {name} must be a number or None, got {given(bound)}")
            if bound is not None and math.isnan(bound):
                raise ValueError(f"clip: {name} must be a number or None, got nan")
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

    saves_inputs = saves_output = False  # backward reads the inside mask, from forward

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            xp = _namespace(x)
            inside = xp.ones(x.shape, dtype=xp.bool, device=device_of(x))
            if self.low is not None:
                inside = inside & (x >= self.low)
            if self.high is not None:
                inside = inside & (x <= self.high)
            self.inside = xp.astype(inside, x.dtype)  # (the Array API multiplies no bools)
            return xp.clip(x, min=self.low, max=self.high)  # type: ignore[no-any-return]  # x's library
        low, high = self._bounds(x.dtype)
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        self.inside = inside
        y: Array = np.clip(x, low, high)
        return y

    def backward(self, gy: Variable) -> Variable:
        return gy * Variable(_in_dtype(self.inside, gy.dtype))

    def backward_array(self, gy: Array) -> Array:
        g: Array = gy * _in_dtype(self.inside, gy.dtype)
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def clip(x: Operand, low: float | None, high: float | None) -> Variable:
    """``x`` limited to ``[low, high]``; the gradient is 1 inside and on the bounds."""
    return Clip(low, high)(x)


class _Select(Function):
    """``maximum``/``minimum``: the gradient goes to the selected input; a tie splits it
    evenly (``ties="split"``, as PyTorch's maximum and minimum)."""

    ufunc: np.ufunc = np.maximum
    saves_inputs = saves_output = False  # backward reads the share, from forward

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.__class__ is not ndarray or x1.__class__ is not ndarray:
            return self._forward_array_api(x0, x1)
        try:
            y: Array = type(self).ufunc(x0, x1, out=...)  # an array even for 0-d inputs
        except ValueError:
            raise broadcast_error(self._label(), x0, x1) from None
        # the share of the gradient x0 gets: 1 where it wins, 1/2 on a tie, 0 where it loses;
        # np.array, not astype: == on 0-d arrays gives a NumPy scalar, which takes no writes
        share = np.array(y == x0, dtype=y.dtype)
        share[np.broadcast_to(x0 == x1, share.shape)] = 0.5
        self.share, self.shapes = share, (x0.shape, x1.shape)
        return y

    def _forward_array_api(self, x0: Array, x1: Array) -> Array:
        """``forward`` on another library's arrays: the same share, from masks in the
        output's dtype (1 where x0 wins, minus 1/2 where they tie)."""
        xp = namespace_of(x0, x1, op=self._label())
        try:
            y: Array = getattr(xp, type(self).ufunc.__name__)(x0, x1)
        except ValueError:
            raise broadcast_error(self._label(), x0, x1) from None
        ties = xp.astype(xp.broadcast_to(x0 == x1, y.shape), y.dtype)
        self.share = xp.astype(y == x0, y.dtype) - 0.5 * ties
        self.shapes = (x0.shape, x1.shape)
        return y

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        g0 = gy * Variable(_in_dtype(self.share, gy.dtype))
        g1 = gy - g0
        return sum_to(g0, self.shapes[0]), sum_to(g1, self.shapes[1])

    def backward_array(self, gy: Array) -> tuple[Array, Array]:
        g0 = gy * _in_dtype(self.share, gy.dtype)
        return sum_to_shape(g0, self.shapes[0]), sum_to_shape(gy - g0, self.shapes[1])

    def jvp(self, t0: Variable | None, t1: Variable | None) -> Variable | None:
        share = self.share.astype(self.output().dtype, copy=False)  # ties: the mean
        return tangent_sum(
            share.shape,
            None if t0 is None else t0 * Variable(share),
            None if t1 is None else t1 * Variable(1 - share),
        )

    def jvp_array(self, t0: Array | None, t1: Array | None) -> Array | None:
        share = self.share.astype(self.output_array().dtype, copy=False)
        return tangent_sum_array(
            share.shape,
            None if t0 is None else t0 * share,
            None if t1 is None else t1 * (1 - share),
        )


@ops.declare(
    "maximum",
    elementwise=True,
    backends=BACKENDS,
    domains=Domain(-2.0, 2.0),
    shape_rule=ShapeRule.BROADCAST,
    order=2,
    ties="split",
    description="elementwise max of two inputs; ties split the gradient",
    reference=elementwise_reference(builtins.max),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Maximum(_Select):
    ufunc = np.maximum


def maximum(x0: Operand, x1: Operand) -> Variable:
    """The larger of ``x0`` and ``x1``, elementwise with broadcasting; ties split the gradient."""
    return Maximum()(x0, x1)


@ops.declare(
    "minimum",
    elementwise=True,
    backends=BACKENDS,
    domains=Domain(-2.0, 2.0),
    shape_rule=ShapeRule.BROADCAST,
    order=2,
    ties="split",
    description="elementwise min of two inputs; ties split the gradient",
    reference=elementwise_reference(builtins.min),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Minimum(_Select):
    ufunc = np.minimum


def minimum(x0: Operand, x1: Operand) -> Variable:
    """The smaller of ``x0`` and ``x1``, elementwise with broadcasting; ties split the
    gradient."""
    return Minimum()(x0, x1)
