"""dezero-ext-nn: activations (``sigmoid``, ``relu``, ``leaky_relu``, ``softmax``,
``log_softmax``).

Every backward is written with Variables, so second derivatives come from differentiating it;
``sigmoid``, ``softmax`` and ``log_softmax`` reuse their output in backward.
"""

from __future__ import annotations

import numpy as np

from dezero_ext import Array, Case, Domain, Draw, Function, OpDef, Operand, Variable
from dezero_ext.ops import exp

__all__ = [
    "LeakyReLU",
    "LogSoftmax",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "leaky_relu",
    "log_softmax",
    "ops",
    "relu",
    "sigmoid",
    "softmax",
]


def check_axis(axis: int, shape: tuple[int, ...], op: str) -> int:
    """``axis`` as a non-negative axis of an array of ``shape``, or a ``ValueError`` naming
    ``op``, the axis and the shape."""
    ndim = len(shape)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {type(axis).__name__} {axis!r}")
    if not -ndim <= axis < ndim:
        valid = f"valid: {-ndim} to {ndim - 1}" if ndim else "a 0-d input has no axis"
        raise ValueError(
            f"{op}: axis {axis} is out of range for an input of shape {shape} ({valid})"
        )
    return int(axis) % ndim


class Sigmoid(Function):
    """``1 / (1 + e**-x)``; the gradient ``y (1 - y)`` reuses the output."""

    op_name = "sigmoid"

    def forward(self, x: Array) -> Array:
        # tanh form: no overflow for large |x| (e**-x overflows at x < -709 in float64).
        return 0.5 * np.tanh(0.5 * x) + 0.5

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy * y * (1 - y)


class _GivenSigmoid(Sigmoid):
    """A sigmoid whose value a caller already has (a loss computed it in its forward)."""

    def __init__(self, y: Array) -> None:
        self.y = y

    def forward(self, x: Array) -> Array:
        return self.y


class ReLU(Function):
    """``max(x, 0)``; ``relu'(0) = 0`` (the left derivative, as PyTorch and DeZero)."""

    op_name = "relu"

    def forward(self, x: Array) -> Array:
        return np.maximum(x, 0)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * Variable((x.data > 0).astype(x.data.dtype))


class LeakyReLU(Function):
    """``x`` for ``x > 0``, ``slope * x`` otherwise (the derivative at 0 is ``slope``)."""

    op_name = "leaky_relu"

    def __init__(self, slope: float = 0.2) -> None:
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise TypeError(
                f"leaky_relu: slope must be a Python number, got {type(slope).__name__} {slope!r}"
            )
        if not np.isfinite(slope):
            raise ValueError(f"leaky_relu: slope must be finite, got {slope!r}")
        self.slope = float(slope)

    def forward(self, x: Array) -> Array:
        return np.where(x > 0, x, x * self.slope)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        x_data = x.data
        dtype = x_data.dtype
        slope = np.where(x_data > 0, dtype.type(1), dtype.type(self.slope))
        return gy * Variable(np.asarray(slope, dtype=dtype))


def _softmax_array(x: Array, axis: int) -> Array:
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    result: Array = e / e.sum(axis=axis, keepdims=True)
    return result


class Softmax(Function):
    """``e**x / sum(e**x)`` along ``axis`` (DeZero's default: axis 1, the class axis of
    ``(N, C, ...)``); the gradient reuses the output."""

    op_name = "softmax"

    def __init__(self, axis: int = 1) -> None:
        self.axis = axis

    def forward(self, x: Array) -> Array:
        return _softmax_array(x, check_axis(self.axis, x.shape, "softmax"))

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        gx = y * gy
        return gx - y * gx.sum(axis=self.axis, keepdims=True)


class _GivenSoftmax(Softmax):
    """A softmax whose value a caller already has (a loss computed it in its forward)."""

    def __init__(self, axis: int, y: Array) -> None:
        self.axis = axis
        self.y = y

    def forward(self, x: Array) -> Array:
        return self.y


class LogSoftmax(Function):
    """``x - log(sum(e**x))`` along ``axis`` (default 1), computed without overflow; the
    gradient ``gy - softmax * sum(gy)`` reuses the output (``softmax = e**y``)."""

    op_name = "log_softmax"

    def __init__(self, axis: int = 1) -> None:
        self.axis = axis

    def forward(self, x: Array) -> Array:
        axis = check_axis(self.axis, x.shape, "log_softmax")
        shifted = x - x.max(axis=axis, keepdims=True)
        result: Array = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return result

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy - exp(y) * gy.sum(axis=self.axis, keepdims=True)


def sigmoid(x: Operand) -> Variable:
    """The logistic sigmoid ``1 / (1 + e**-x)``, elementwise."""
    return Sigmoid()(x)


def relu(x: Operand) -> Variable:
    """``max(x, 0)``, elementwise; the gradient at 0 is 0."""
    return ReLU()(x)


def leaky_relu(x: Operand, slope: float = 0.2) -> Variable:
    """``x`` where ``x > 0``, ``slope * x`` elsewhere (DeZero's default slope 0.2)."""
    return LeakyReLU(slope)(x)


def softmax(x: Operand, axis: int = 1) -> Variable:
    """Softmax along ``axis`` (default 1, DeZero's: the class axis of an ``(N, C)`` input)."""
    return Softmax(axis)(x)


def log_softmax(x: Operand, axis: int = 1) -> Variable:
    """``log(softmax(x, axis))``, computed stably (default axis 1)."""
    return LogSoftmax(axis)(x)


# ---------------------------------------------------------------------- samplers for checks
def _sample_leaky_relu(draw: Draw) -> Case:
    shape = draw.shape(max_dims=3)
    return Case((draw.array(shape),), {"slope": draw.choice([0.2, 0.01, 0.5, -0.3])})


def _sample_softmax(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=3)
    axis = draw.integer(-len(shape), len(shape) - 1)
    return Case((draw.array(shape),), {"axis": axis})


def ops() -> list[OpDef]:
    """The ``OpDef``s of this module, collected by the plugin's hook."""
    kink = Domain(-3.0, 3.0, kinks=(0.0,), kink_rule="left")
    return [
        OpDef(
            "sigmoid",
            Sigmoid,
            domains=(Domain(-6.0, 6.0),),
            order=3,
            description="1 / (1 + e**-x)",
        ),
        OpDef("relu", ReLU, domains=(kink,), order=3, description="max(x, 0); relu'(0) = 0"),
        OpDef(
            "leaky_relu",
            LeakyReLU,
            domains=(kink,),
            sample=_sample_leaky_relu,
            order=3,
            description="x if x > 0 else slope * x",
        ),
        OpDef(
            "softmax",
            Softmax,
            domains=(Domain(-3.0, 3.0),),
            sample=_sample_softmax,
            order=3,
            description="e**x / sum(e**x) along axis",
        ),
        OpDef(
            "log_softmax",
            LogSoftmax,
            domains=(Domain(-3.0, 3.0),),
            sample=_sample_softmax,
            order=3,
            description="x - logsumexp(x) along axis",
        ),
    ]
