"""dezero-ext-nn: activations (``sigmoid``, ``relu``, ``leaky_relu``, ``softmax``,
``log_softmax``).

Every backward is written with Variables, so second derivatives come from differentiating it;
``sigmoid``, ``softmax`` and ``log_softmax`` reuse their output in backward. A loss that has
already computed a sigmoid or softmax passes it as ``output=`` so that its backward reuses it.
"""

from __future__ import annotations

import math

import numpy as np

from dezero_ext import Array, Case, Domain, Draw, Function, Operand, OpSet, Variable
from dezero_ext.opdef import ErrorInput
from dezero_ext.ops import exp
from dezero_ext.ops.helpers import (
    BACKENDS,
    check_array,
    check_axis,
    check_int,
    check_number,
    elementwise_reference,
    fsum_along,
    namespace_of,
)

__all__ = [
    "LeakyReLU",
    "LogSoftmax",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "leaky_relu",
    "log_softmax",
    "log_softmax_array",
    "ops",
    "relu",
    "sigmoid",
    "sigmoid_array",
    "softmax",
    "softmax_array",
]

ops = OpSet()

_KINK = Domain(-3.0, 3.0, kinks=(0.0,), kink_rule="left")


def sigmoid_array(x: Array) -> Array:
    """The sigmoid of an array, in the tanh form: no overflow for large ``|x|``."""
    tanh = np.tanh if isinstance(x, np.ndarray | np.generic) else namespace_of(x).tanh
    return 0.5 * tanh(0.5 * x) + 0.5  # x's library


def softmax_array(x: Array, axis: int) -> Array:
    """The softmax of an array along ``axis``, shifted by the maximum (no overflow); an
    empty input gives an empty output."""
    xp = namespace_of(x, op="softmax")
    if x.size == 0:
        return xp.empty_like(x)  # type: ignore[no-any-return]  # x's library
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    result: Array = e / xp.sum(e, axis=axis, keepdims=True)
    return result


def log_softmax_array(x: Array, axis: int) -> Array:
    """``log(softmax(x))`` of an array along ``axis``, without overflow or ``log(0)``; an
    empty input gives an empty output."""
    xp = namespace_of(x, op="log_softmax")
    if x.size == 0:
        return xp.empty_like(x)  # type: ignore[no-any-return]  # x's library
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    result: Array = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    return result


def _given(output: Array | None, op: str) -> Array | None:
    """An ``output=`` passed in: a floating NumPy array, or another library's array."""
    if output is None:
        return None
    if isinstance(output, np.ndarray) or not hasattr(output, "dtype"):
        return check_array(output, op, "output")
    namespace_of(output, op=op)  # another library's array (a TypeError for anything else)
    return output


@ops.declare(
    "sigmoid",
    backends=BACKENDS,
    domains=Domain(-6.0, 6.0),
    order=3,
    description="1 / (1 + e**-x)",
    reference=elementwise_reference(lambda x: 1.0 / (1.0 + math.exp(-x))),
)
class Sigmoid(Function):
    """``1 / (1 + e**-x)``; the gradient ``y (1 - y)`` reuses the output. A caller that has
    computed the sigmoid already passes it as ``output`` (a loss does)."""

    saves_inputs = False

    def __init__(self, *, output: Array | None = None) -> None:
        self.given = _given(output, "sigmoid")

    def forward(self, x: Array) -> Array:
        return sigmoid_array(x) if self.given is None else self.given

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy * y * (1 - y)

    def backward_array(self, gy: Array) -> Array:
        y = self.output_array()
        g: Array = gy * y * (1 - y)
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def sigmoid(x: Operand) -> Variable:
    """The logistic sigmoid ``1 / (1 + e**-x)``, elementwise."""
    return Sigmoid()(x)


@ops.declare(
    "relu",
    backends=BACKENDS,
    domains=_KINK,
    order=3,
    description="max(x, 0); relu'(0) = 0",
    reference=elementwise_reference(lambda x: x if x > 0 else 0.0),
)
class ReLU(Function):
    """``max(x, 0)``; ``relu'(0) = 0`` (the left derivative, as PyTorch and DeZero)."""

    saves_inputs = saves_output = False  # backward reads the mask, from forward
    mask: Array
    """Where x > 0: bools (NumPy), or 1.0 and 0.0 in x's dtype (another library's)."""

    def forward(self, x: Array) -> Array:
        if not isinstance(x, np.ndarray | np.generic):  # another library's: a mask of x's dtype
            xp = namespace_of(x, op="relu")  # (the Array API multiplies no bools by floats)
            self.mask = xp.astype(x > 0, x.dtype)
            return xp.where(x > 0, x, xp.zeros_like(x))  # x's library
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, gy: Variable) -> Variable:
        mask = self.mask
        if isinstance(mask, np.ndarray | np.generic):
            mask = mask.astype(gy.dtype)
        return gy * Variable(mask)

    def backward_array(self, gy: Array) -> Array:
        g: Array = gy * self.mask
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def relu(x: Operand) -> Variable:
    """``max(x, 0)``, elementwise; the gradient at 0 is 0."""
    return ReLU()(x)


def _sample_leaky_relu(draw: Draw) -> Case:
    shape = draw.shape(max_dims=3)
    return Case((draw.array(shape),), {"slope": draw.choice([0.2, 0.01, 0.5, -0.3])})


@ops.declare(
    "leaky_relu",
    domains=_KINK,
    sample=_sample_leaky_relu,
    order=3,
    description="x if x > 0 else slope * x",
)
class LeakyReLU(Function):
    """``x`` for ``x > 0``, ``slope * x`` otherwise (the derivative at 0 is ``slope``)."""

    def __init__(self, slope: float = 0.2) -> None:
        self.slope = check_number(slope, "leaky_relu", "slope")

    saves_inputs = saves_output = False  # backward reads the slopes, from forward

    def forward(self, x: Array) -> Array:
        dtype = x.dtype
        self.slopes = np.asarray(
            np.where(x > 0, dtype.type(1), dtype.type(self.slope)), dtype=dtype
        )
        return np.where(x > 0, x, x * self.slope)

    def backward(self, gy: Variable) -> Variable:
        return gy * Variable(self.slopes)

    def backward_array(self, gy: Array) -> Array:
        g: Array = gy * self.slopes
        return g

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def leaky_relu(x: Operand, slope: float = 0.2) -> Variable:
    """``x`` where ``x > 0``, ``slope * x`` elsewhere (DeZero's default slope 0.2)."""
    return LeakyReLU(slope)(x)


def _softmax_row(row: list[float]) -> list[float]:
    m = max(row)
    exps = [math.exp(v - m) for v in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


def _log_softmax_row(row: list[float]) -> list[float]:
    m = max(row)
    log_total = m + math.log(math.fsum(math.exp(v - m) for v in row))
    return [v - log_total for v in row]


def _softmax_reference(x: Array, axis: int = 1) -> Array:
    """``softmax`` row by row in Python floats, the sum exact (``math.fsum``)."""
    return fsum_along(x, axis, _softmax_row)


def _log_softmax_reference(x: Array, axis: int = 1) -> Array:
    """``log_softmax`` row by row in Python floats, the sum exact (``math.fsum``)."""
    return fsum_along(x, axis, _log_softmax_row)


def _sample_softmax(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=3)
    axis = draw.integer(-len(shape), len(shape) - 1)
    return Case((draw.array(shape),), {"axis": axis})


@ops.declare(
    "softmax",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    sample=_sample_softmax,
    order=3,
    description="e**x / sum(e**x) along axis",
    reference=_softmax_reference,
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"axis 2 is out of range", {"axis": 2}),
    ),
)
class Softmax(Function):
    """``e**x / sum(e**x)`` along ``axis`` (DeZero's default: axis 1, the class axis of
    ``(N, C, ...)``); the gradient reuses the output. A caller that has computed the softmax
    already passes it as ``output`` (a loss does)."""

    saves_inputs = False

    def __init__(self, axis: int = 1, *, output: Array | None = None) -> None:
        self.axis = check_int(axis, "softmax", "axis")
        self.given = _given(output, "softmax")

    def forward(self, x: Array) -> Array:
        if self.given is not None:
            return self.given
        return softmax_array(x, check_axis(self.axis, x.shape, "softmax"))

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        gx = y * gy
        return gx - y * gx.sum(axis=self.axis, keepdims=True)

    def backward_array(self, gy: Array) -> Array:
        y = self.output_array()
        gx = y * gy
        g: Array = gx - y * namespace_of(gx).sum(gx, axis=self.axis, keepdims=True)
        return g

    jvp = backward  # the Jacobian diag(y) - y yᵀ (along axis) is symmetric
    jvp_array = backward_array


def softmax(x: Operand, axis: int = 1) -> Variable:
    """Softmax along ``axis`` (default 1, DeZero's: the class axis of an ``(N, C)`` input)."""
    return Softmax(axis)(x)


@ops.declare(
    "log_softmax",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    sample=_sample_softmax,
    order=3,
    description="x - logsumexp(x) along axis",
    reference=_log_softmax_reference,
    error_inputs=(
        ErrorInput((np.ones((2, 3)),), ValueError, r"axis 2 is out of range", {"axis": 2}),
    ),
)
class LogSoftmax(Function):
    """``x - log(sum(e**x))`` along ``axis`` (default 1), computed without overflow; the
    gradient ``gy - softmax * sum(gy)`` reuses the output (``softmax = e**y``)."""

    saves_inputs = False

    def __init__(self, axis: int = 1) -> None:
        self.axis = check_int(axis, "log_softmax", "axis")

    def forward(self, x: Array) -> Array:
        return log_softmax_array(x, check_axis(self.axis, x.shape, "log_softmax"))

    def backward(self, gy: Variable) -> Variable:
        y = self.output()
        return gy - exp(y) * gy.sum(axis=self.axis, keepdims=True)

    def backward_array(self, gy: Array) -> Array:
        xp = namespace_of(gy, op="log_softmax")
        g: Array = gy - xp.exp(self.output_array()) * xp.sum(gy, axis=self.axis, keepdims=True)
        return g

    def jvp(self, tx: Variable) -> Variable:
        y = self.output()  # J t = t - sum(softmax * t) along the axis
        return tx - (exp(y) * tx).sum(axis=self.axis, keepdims=True)

    def jvp_array(self, tx: Array) -> Array:
        softmax = np.exp(self.output_array())
        t: Array = tx - (softmax * tx).sum(axis=self.axis, keepdims=True)
        return t


def log_softmax(x: Operand, axis: int = 1) -> Variable:
    """``log(softmax(x, axis))``, computed stably (default axis 1)."""
    return LogSoftmax(axis)(x)
