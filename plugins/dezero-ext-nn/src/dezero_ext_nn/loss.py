"""dezero-ext-nn: losses (``mean_squared_error``, ``softmax_cross_entropy``,
``sigmoid_cross_entropy``, ``binary_cross_entropy``).

Every loss is the **mean over all elements** (PyTorch's ``reduction="mean"``), a 0-d Variable.
DeZero's ``mean_squared_error`` divided the sum by the batch size instead. Labels and targets
are data, not inputs: they are constructor parameters and get no gradient.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from dezero_ext import Array, Case, Domain, Draw, Function, Operand, OpSet, ShapeRule, Variable
from dezero_ext.opdef import ErrorInput
from dezero_ext.ops.helpers import (
    BACKENDS,
    broadcast_error,
    device_of,
    given,
    namespace_of,
    scalar_jvp,
    scalar_jvp_array,
    sum_to,
    sum_to_shape,
)
from dezero_ext_nn.activation import Sigmoid, Softmax, log_softmax_array

__all__ = [
    "BinaryCrossEntropy",
    "MeanSquaredError",
    "SigmoidCrossEntropy",
    "SoftmaxCrossEntropy",
    "binary_cross_entropy",
    "mean_squared_error",
    "ops",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
]

ops = OpSet()


Labels = Array | Sequence[int] | int


Targets = Array | Sequence[float] | float


def _mean(values: Array) -> Array:
    """The mean of all elements, in the dtype of ``values`` (and its library)."""
    if not isinstance(values, np.ndarray | np.generic):  # another library's array (core/backend.py)
        return namespace_of(values).sum(values) / float(values.size)  # its library
    return np.asarray(values.sum() / values.dtype.type(values.size))


def _first_bad(mask: Array) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


@ops.declare(
    "mean_squared_error",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    shape_rule=ShapeRule.BROADCAST,
    order=3,
    description="mean((x0 - x1)**2) over all elements, x0 and x1 broadcast",
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)),
            ValueError,
            r"shapes \(3,\) and \(4,\) do not broadcast",
        ),
    ),
)
class MeanSquaredError(Function):
    """``mean((x0 - x1) ** 2)`` over all elements of the broadcast difference."""

    saves_output = False

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.__class__ is not np.ndarray or x1.__class__ is not np.ndarray:
            namespace_of(x0, x1, op="mean_squared_error")  # two libraries: refused
        try:
            self.diff = diff = x0 - x1
        except ValueError:
            raise broadcast_error("mean_squared_error", x0, x1) from None
        self.shapes = (x0.shape, x1.shape)
        return _mean(diff * diff)

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        s0, s1 = self.shapes
        g = (x0 - x1) * (gy * (2.0 / max(self.diff.size, 1)))
        return sum_to(g, s0), sum_to(-g, s1)

    def backward_array(self, gy: Array) -> tuple[Array, Array]:
        s0, s1 = self.shapes
        g: Array = self.diff * (gy * (2.0 / max(self.diff.size, 1)))
        return sum_to_shape(g, s0), sum_to_shape(-g, s1)

    jvp = scalar_jvp  # one value out: the gradient times the tangent
    jvp_array = scalar_jvp_array


def _broadcasts(s0: tuple[int, ...], s1: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(s0, s1)
    except ValueError:
        return False  # forward raises the error
    return True


def mean_squared_error(x0: Operand, x1: Operand) -> Variable:
    """``mean((x0 - x1) ** 2)`` over **all** elements (PyTorch's ``mse_loss``; DeZero divided
    by the batch size). Shapes that differ broadcast, as in DeZero and PyTorch, with a
    warning as PyTorch's (a (n, 1) prediction against a (n,) target averages n * n pairs)."""
    s0, s1 = getattr(x0, "shape", ()), getattr(x1, "shape", ())
    if s0 != s1 and _broadcasts(s0, s1):
        warnings.warn(
            f"mean_squared_error: x0 of shape {s0} and x1 of shape {s1} differ, so they "
            "broadcast (as in DeZero and PyTorch) and the mean runs over every pair; give "
            "both the same shape (reshape one of them) unless that is what you mean",
            UserWarning,
            stacklevel=2,
        )
    return MeanSquaredError()(x0, x1)


def _what(t: object, arr: Array) -> str:
    what = f"an array of dtype {arr.dtype} and shape {arr.shape}"
    return what if isinstance(t, np.ndarray) else f"{given(t)} ({what})"


def _labels(t: object, op: str) -> Array:
    """Integer class labels as an int array, or an error saying what was passed instead."""
    if isinstance(t, Variable):
        raise TypeError(
            f"{op}: labels t are a Variable; pass the integer array itself (labels get no "
            "gradient, and a Variable holds floats)"
        )
    if not isinstance(t, np.ndarray | np.generic) and hasattr(t, "dtype") and hasattr(t, "shape"):
        xp = namespace_of(t, op=op)  # another library's labels: kept there, never computed
        if xp.isdtype(t.dtype, "integral"):
            return t  # type: ignore[return-value]  # an Array API array
    arr = np.asarray(t)
    if arr.dtype.kind in "iu":
        return arr
    hint = ""
    if arr.dtype.kind in "fb" and arr.ndim >= 2 and np.isin(arr, (0, 1)).all():
        hint = (
            " These look like one-hot rows: pass the class indices instead, e.g. t.argmax(axis=1)."
        )
    elif arr.dtype.kind == "f":
        hint = " Convert integer-valued floats with t.astype(int)."
    raise TypeError(f"{op}: labels t must be integer class indices, got {_what(t, arr)}.{hint}")


def _sample_softmax_cross_entropy(draw: Draw) -> Case:
    n, c = draw.integer(1, 4), draw.integer(2, 5)
    extra = draw.choice([(), (draw.integer(1, 3),)])
    labels = [draw.integer(0, c - 1) for _ in range(n * int(np.prod(extra)))]
    t = np.array(labels, dtype=np.int64).reshape((n, *extra))
    return Case((draw.array((n, c, *extra)),), {"t": t})


@ops.declare(
    "softmax_cross_entropy",
    backends=BACKENDS,
    domains=Domain(-3.0, 3.0),
    sample=_sample_softmax_cross_entropy,
    order=3,
    description="-mean(log_softmax(x)[t]); t integer labels",
    error_inputs=(
        ErrorInput(
            (np.ones((2, 3)),),
            ValueError,
            r"label 3 .* out of range for 3 classes",
            {"t": np.array([0, 3])},
        ),
        ErrorInput(
            (np.ones((2, 3)),), ValueError, r"label -1 .* out of range", {"t": np.array([0, -1])}
        ),
    ),
)
class SoftmaxCrossEntropy(Function):
    """``-mean(log_softmax(x, axis=1)[t])``: logits ``x`` of shape ``(N, C, ...)`` and integer
    class labels ``t`` of shape ``(N, ...)`` (PyTorch's ``cross_entropy`` layout)."""

    saves_output = False

    def __init__(self, t: Labels) -> None:
        self.t = _labels(t, "softmax_cross_entropy")

    def _check(self, x: Array) -> None:
        op, t = "softmax_cross_entropy", self.t
        if x.ndim < 2:
            raise ValueError(
                f"{op}: x of shape {x.shape} must have a batch and a class axis, (N, C, ...); "
                "for a single example use x.reshape(1, -1)"
            )
        expected = (x.shape[0], *x.shape[2:])
        if t.shape != expected:
            hint = (
                " t has the shape of x: if it is one-hot, pass t.argmax(axis=1)."
                if t.shape == x.shape
                else ""
            )
            raise ValueError(
                f"{op}: labels t of shape {t.shape} do not match x of shape {x.shape}: expected "
                f"one class index per example, shape {expected}.{hint}"
            )
        n_classes = x.shape[1]
        if not isinstance(t, np.ndarray):  # another library's labels: checking their range
            return  # would compute them (a Dask graph); one-hot rows of bad ones are 0
        bad = (t < 0) | (t >= n_classes)
        if bad.any():
            where = _first_bad(bad)
            raise ValueError(
                f"{op}: label {int(t[where])} at index {where} is out of range for {n_classes} "
                f"classes (valid labels: 0 to {n_classes - 1})"
            )

    def forward(self, x: Array) -> Array:
        self._check(x)
        if x.__class__ is not np.ndarray or self.t.__class__ is not np.ndarray:
            return self._forward_array_api(x)
        if x.ndim == 2 and x.size:  # (N, C), the common case: plain indexing, one exp
            shifted = x - x.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            total = e.sum(axis=1, keepdims=True)
            self.p = e / total  # the softmax, reused by backward
            rows = np.arange(x.shape[0])
            # log_softmax(x)[rows, t], as log_softmax_array computes it, for those entries only
            return -_mean(shifted[rows, self.t] - np.log(total[:, 0]))
        log_p = log_softmax_array(x, 1)
        self.p = np.exp(log_p)
        return -_mean(np.take_along_axis(log_p, np.expand_dims(self.t, 1), axis=1))

    def _forward_array_api(self, x: Array) -> Array:
        """``forward`` on another library's arrays: the labels picked by a one-hot mask (the
        Array API has no ``take_along_axis`` or ``put_along_axis``); NumPy labels are moved
        to ``x``'s library (a label array is the caller's parameter, not an input)."""
        labels = self.t
        if labels.__class__ is np.ndarray:  # NumPy labels: moved to x's library
            xp = namespace_of(x, op="softmax_cross_entropy")
            t = xp.asarray(labels, device=device_of(x))  # on x's device (a GPU, a strict one)
        else:  # the labels' library must be x's: nothing is moved between two libraries
            xp = namespace_of(x, labels, op="softmax_cross_entropy")
            t = labels
        classes = xp.reshape(
            xp.arange(x.shape[1], device=device_of(x)), (1, x.shape[1]) + (1,) * (x.ndim - 2)
        )
        self.hot = xp.astype(xp.expand_dims(t, axis=1) == classes, x.dtype)
        log_p = log_softmax_array(x, 1)
        self.p = xp.exp(log_p)
        picked = xp.sum(log_p * self.hot, axis=1)
        return -_mean(picked)

    def _one_hot(self) -> Array:
        if "hot" in self.__dict__:  # computed by _forward_array_api
            hot: Array = self.hot
            return hot
        one_hot = np.zeros(self.p.shape, dtype=self.p.dtype)
        np.put_along_axis(one_hot, np.expand_dims(self.t, 1), 1, axis=1)
        return one_hot

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        p = Softmax(1, output=self.p)(x)
        return (p - Variable(self._one_hot())) * (gy / max(self.t.size, 1))

    def backward_array(self, gy: Array) -> Array:
        scale = gy / max(self.t.size, 1)
        if self.p.__class__ is np.ndarray and "hot" not in self.__dict__ and self.p.ndim == 2:
            # (p - one_hot) * scale, subtracting 1 where the labels are
            g: Array = self.p.copy()
            g[np.arange(g.shape[0]), self.t] -= 1
            g *= scale
            return g
        result: Array = (self.p - self._one_hot()) * scale
        return result

    jvp = scalar_jvp  # one value out: the gradient times the tangent
    jvp_array = scalar_jvp_array


def softmax_cross_entropy(x: Operand, t: Labels) -> Variable:
    """Cross entropy of logits ``x`` ``(N, C, ...)`` against integer class labels ``t``
    ``(N, ...)``, averaged over the ``N * ...`` examples. One-hot or out-of-range labels
    raise an error."""
    return SoftmaxCrossEntropy(t)(x)


def _targets(t: object, op: str) -> Array:
    if isinstance(t, Variable):
        raise TypeError(
            f"{op}: targets t are a Variable; pass the array itself (targets get no gradient)"
        )
    if not isinstance(t, np.ndarray | np.generic) and hasattr(t, "dtype") and hasattr(t, "shape"):
        xp = namespace_of(t, op=op)  # another library's targets: kept there; their range is
        if xp.isdtype(t.dtype, ("bool", "integral", "real floating")):  # not checked (that
            return t  # type: ignore[return-value]  # would compute them): an Array API array
    arr = np.asarray(t)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: targets t must be numbers in [0, 1], got {_what(t, arr)}")
    bad = ~((arr >= 0) & (arr <= 1))
    if bad.any():
        where = _first_bad(np.atleast_1d(bad))
        value = np.atleast_1d(arr)[where].item()
        raise ValueError(
            f"{op}: target {value!r} at index {where} is outside [0, 1]; targets are "
            "probabilities (0 or 1 for hard labels)"
        )
    return arr


def _check_targets(t: Array, x: Array, op: str, name: str) -> Array:
    if t.shape != x.shape:
        raise ValueError(
            f"{op}: targets t of shape {t.shape} and {name} of shape {x.shape} differ; give "
            f"t the shape of {name} (e.g. t.reshape({name}.shape))"
        )
    if t.__class__ is np.ndarray and x.__class__ is np.ndarray:
        return t.astype(x.dtype, copy=False)
    if isinstance(t, np.ndarray):  # NumPy targets: moved to x's library (a parameter)
        xp = namespace_of(x, op=op)
        moved = xp.asarray(t, device=device_of(x))  # on x's device (a GPU, a strict one)
        return xp.astype(moved, x.dtype)  # type: ignore[no-any-return]  # x's library
    xp = namespace_of(x, t, op=op)  # the targets' library must be x's
    return xp.astype(t, x.dtype)  # x's library


def _draw_targets(draw: Draw, shape: tuple[int, ...]) -> Array:
    if draw.boolean():  # hard labels
        return np.array([draw.choice([0, 1]) for _ in range(int(np.prod(shape)))]).reshape(shape)
    return draw.array(shape, Domain(0.0, 1.0))


def _sample_sigmoid_cross_entropy(draw: Draw) -> Case:
    shape = draw.shape(max_dims=3)
    return Case((draw.array(shape),), {"t": _draw_targets(draw, shape)})


@ops.declare(
    "sigmoid_cross_entropy",
    backends=BACKENDS,
    domains=Domain(-5.0, 5.0),
    sample=_sample_sigmoid_cross_entropy,
    order=3,
    description="binary cross entropy from logits; t in [0, 1]",
)
class SigmoidCrossEntropy(Function):
    """``mean(-t log(sigmoid(x)) - (1 - t) log(1 - sigmoid(x)))`` from logits ``x``,
    computed without overflow; targets ``t`` in [0, 1] have the shape of ``x``."""

    saves_output = False

    def __init__(self, t: Targets) -> None:
        self.t = _targets(t, "sigmoid_cross_entropy")

    def forward(self, x: Array) -> Array:
        t = self.t_cast = _check_targets(self.t, x, "sigmoid_cross_entropy", "x")
        if x.__class__ is not np.ndarray:  # another library's array (core/backend.py)
            xp = namespace_of(x, op="sigmoid_cross_entropy")
            e = xp.exp(-xp.abs(x))
            self.p = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
            return _mean(xp.maximum(x, xp.zeros_like(x)) - x * t + xp.log1p(e))
        e = np.exp(-np.abs(x))
        self.p = np.where(x >= 0, 1 / (1 + e), e / (1 + e))  # sigmoid(x), reused by backward
        return _mean(np.maximum(x, 0) - x * t + np.log1p(e))

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        p = Sigmoid(output=self.p)(x)
        return (p - Variable(self.t_cast)) * (gy / max(self.t.size, 1))

    def backward_array(self, gy: Array) -> Array:
        g: Array = (self.p - self.t_cast) * (gy / max(self.t.size, 1))
        return g

    jvp = scalar_jvp  # one value out: the gradient times the tangent
    jvp_array = scalar_jvp_array


def sigmoid_cross_entropy(x: Operand, t: Targets) -> Variable:
    """Binary cross entropy from logits ``x`` against targets ``t`` in [0, 1] of the same
    shape, averaged over all elements (PyTorch's ``binary_cross_entropy_with_logits``)."""
    return SigmoidCrossEntropy(t)(x)


def _sample_binary_cross_entropy(draw: Draw) -> Case:
    shape = draw.shape(max_dims=3)
    return Case((draw.array(shape),), {"t": _draw_targets(draw, shape)})


@ops.declare(
    "binary_cross_entropy",
    backends=BACKENDS,
    domains=Domain(0.05, 0.95, outside="nan"),
    sample=_sample_binary_cross_entropy,
    order=3,
    description="binary cross entropy of probabilities p in (0, 1)",
    error_inputs=(
        ErrorInput(
            (np.full(3, 0.5),),
            ValueError,
            r"target 2 .* outside \[0, 1\]",
            {"t": np.array([0, 2, 1])},
        ),
    ),
)
class BinaryCrossEntropy(Function):
    """``mean(-t log(p) - (1 - t) log(1 - p))`` for probabilities ``p`` in (0, 1); targets
    ``t`` in [0, 1] have the shape of ``p``. At ``p == t == 0`` (or 1) the loss is its limit,
    0 (``0 log 0 = 0``, as in PyTorch), and the derivative that of the term that remains.
    Elsewhere outside (0, 1) it follows NumPy's ``log`` (inf or nan, with a warning): nothing
    is clipped."""

    saves_output = False

    def __init__(self, t: Targets) -> None:
        self.t = _targets(t, "binary_cross_entropy")

    def forward(self, p: Array) -> Array:
        t = self.t_cast = _check_targets(self.t, p, "binary_cross_entropy", "p")
        self.p = p
        if p.__class__ is not np.ndarray:  # another library's array (core/backend.py)
            xp = namespace_of(p, op="binary_cross_entropy")
            one, zero = xp.ones_like(p), xp.zeros_like(p)
            log_p = xp.log(xp.where((t == 0) & (p == 0), one, p))
            log_q = xp.log1p(-xp.where((t == 1) & (p == 1), zero, p))
            return -_mean(t * log_p + (1 - t) * log_q)
        # 0 * log(0) is 0 where p == t == 0 (or 1), not nan; 0 * log(-1) stays nan
        log_p = np.log(np.where((t == 0) & (p == 0), 1, p))
        log_q = np.log1p(-np.where((t == 1) & (p == 1), 0, p))
        return -_mean(t * log_p + (1 - t) * log_q)

    def _masks(self) -> tuple[Array, Array]:
        """1 where a term of the loss is absent (``t == 0``: ``t log p``; ``t == 1``:
        ``(1 - t) log(1 - p)``), so its derivative is a constant 0, not ``0 / 0``."""
        t = self.t_cast
        if not isinstance(t, np.ndarray | np.generic):  # another library's array
            xp = namespace_of(t, op="binary_cross_entropy")
            return xp.astype(t == 0, t.dtype), xp.astype(t == 1, t.dtype)
        return (t == 0).astype(t.dtype), (t == 1).astype(t.dtype)

    # -t / p + (1 - t) / (1 - p), each denominator 1 (a constant) where its term is absent
    def backward(self, gy: Variable) -> Variable:
        (p,) = self.inputs
        t = self.t_cast
        m0, m1 = self._masks()
        tv = Variable(t)  # (another library's array on the left refuses a Variable on the right)
        g: Variable = -tv / (p * (1 - m0) + m0) + (1 - tv) / ((1 - p) * (1 - m1) + m1)
        return g * (gy / max(self.t.size, 1))

    def backward_array(self, gy: Array) -> Array:
        p, t = self.p, self.t_cast
        m0, m1 = self._masks()
        g: Array = -t / (p * (1 - m0) + m0) + (1 - t) / ((1 - p) * (1 - m1) + m1)
        return g * (gy / max(self.t.size, 1))

    jvp = scalar_jvp  # one value out: the gradient times the tangent
    jvp_array = scalar_jvp_array


def binary_cross_entropy(p: Operand, t: Targets) -> Variable:
    """Binary cross entropy of probabilities ``p`` in (0, 1) against targets ``t`` in [0, 1]
    of the same shape, averaged over all elements (no clipping)."""
    return BinaryCrossEntropy(t)(p)
