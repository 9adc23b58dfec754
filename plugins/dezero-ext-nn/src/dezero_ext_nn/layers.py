"""Layers, DeZero's way: ``import dezero_ext_nn.layers as L`` then ``L.Linear(10)``.

Every layer holds its weights as ``Parameter``s in its ``dtype`` (float32 by default, as in
DeZero) and computes in it: data of another dtype is converted on the way in, so a float64
batch does not turn a float32 model into a float64 one. A layer given no input size
(``in_size=None``, ``in_channels=None``) creates its weight at the first call, from the
input's shape, or when ``load_weights`` reads it. Weights are drawn from NumPy's global random
state (``np.random.seed`` applies, as in DeZero).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from dezero_ext import Array, Operand, Parameter, Variable
from dezero_ext_nn import conv, layer_ops
from dezero_ext_nn._devices import is_foreign, require_backend
from dezero_ext_nn._layer import Layer, as_dtype, float_dtype, positive_int
from dezero_ext_nn.functions import (
    batch_norm,
    conv2d,
    deconv2d,
    embed_id,
    linear,
    sigmoid,
    tanh,
)

__all__ = [
    "LSTM",
    "RNN",
    "BatchNorm",
    "Conv2d",
    "Deconv2d",
    "EmbedID",
    "Layer",
    "Linear",
]

Pair = tuple[int, int]

# The declarations of the ops the layers apply: their ``backends`` say which arrays a layer
# passes on (``as_dtype``).
_LINEAR, _BATCH_NORM = layer_ops.ops["linear"], layer_ops.ops["batch_norm"]
_EMBED_ID = layer_ops.ops["embed_id"]
_CONV, _DECONV = conv.ops["conv2d"], conv.ops["deconv2d"]


def _randn(shape: tuple[int, ...], scale: float, dtype: np.dtype[np.floating]) -> Array:
    # Scaled in float64, then cast: DeZero multiplied a float32 array by np.float64 scale,
    # which NumPy 2 turns into a float64 weight.
    return (np.random.randn(*shape) * scale).astype(dtype)


def _pair(value: int | Pair, name: str, layer: str) -> Pair:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{layer}: {name} must be an int or a pair, got {value!r}")
        return positive_int(value[0], name, layer), positive_int(value[1], name, layer)
    size = positive_int(value, name, layer)
    return size, size


def _size(x: Operand, axis: int, layer: str, what: str) -> int:
    shape = x.shape if isinstance(x, Variable) else np.shape(x)  # not .data: traceable
    if len(shape) <= max(axis, -axis - 1):
        raise ValueError(f"{layer}: cannot infer {what} from an input of shape {shape}")
    return int(shape[axis])


# ---------------------------------------------------------------------- Linear
class Linear(Layer):
    """``y = x @ W + b`` with ``W`` of shape ``(in_size, out_size)`` (DeZero's layout) drawn
    from ``N(0, 1/in_size)``, and ``b`` zeros (none when ``nobias``). ``in_size=None`` takes
    it from the last axis of the first input."""

    W: Parameter
    b: Parameter | None

    def __init__(
        self,
        out_size: int,
        nobias: bool = False,
        dtype: DTypeLike = np.float32,
        in_size: int | None = None,
    ) -> None:
        super().__init__()
        self.out_size = positive_int(out_size, "out_size", "Linear")
        self.dtype = float_dtype(dtype, "Linear")
        self.W = Parameter(np.empty((0, self.out_size), self.dtype), name="W")
        if in_size is None:
            self._declare_lazy("W", (None, self.out_size))
        else:
            self._init_W(positive_int(in_size, "in_size", "Linear"))
        self.b = None if nobias else Parameter(np.zeros(self.out_size, self.dtype), name="b")

    @property
    def in_size(self) -> int | None:
        """The input size, None until the first call (or ``load_weights``) when not given."""
        return None if self._lazy() else self.W.shape[0]

    def _init_W(self, in_size: int) -> None:  # noqa: N802 - DeZero's name
        self._create("W", _randn((in_size, self.out_size), np.sqrt(1 / in_size), self.dtype))

    def forward(self, x: Operand) -> Variable:
        if self._lazy():
            self._init_W(_size(x, -1, "Linear", "in_size"))
        W = self.W  # noqa: N806
        return linear(as_dtype(x, W.dtype, _LINEAR, "Linear"), W, self.b)


# ---------------------------------------------------------------------- Conv2d / Deconv2d
class _ConvBase(Layer):
    W: Parameter
    b: Parameter | None
    _layout = ""

    def __init__(
        self,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        pad: int | Pair = 0,
        nobias: bool = False,
        dtype: DTypeLike = np.float32,
        in_channels: int | None = None,
    ) -> None:
        super().__init__()
        label = type(self).__name__
        self.out_channels = positive_int(out_channels, "out_channels", label)
        self.kernel_size = _pair(kernel_size, "kernel_size", label)
        self.stride, self.pad = stride, pad
        self.dtype = float_dtype(dtype, label)
        self.W = Parameter(np.empty(self._shape(0), self.dtype), name="W")
        if in_channels is None:
            self._declare_lazy("W", tuple(None if d == 0 else d for d in self._shape(0)))
        else:
            self._init_W(positive_int(in_channels, "in_channels", label))
        self.b = None if nobias else Parameter(np.zeros(self.out_channels, self.dtype), name="b")

    def _shape(self, in_channels: int) -> tuple[int, int, int, int]:
        raise NotImplementedError

    @property
    def in_channels(self) -> int | None:
        """The input channels, None until the first call (or ``load_weights``) when not
        given."""
        if self._lazy():
            return None
        return int(self.W.shape[1] if self._layout == "conv" else self.W.shape[0])

    def _init_W(self, in_channels: int) -> None:  # noqa: N802 - DeZero's name
        kh, kw = self.kernel_size
        scale = np.sqrt(1 / (in_channels * kh * kw))
        self._create("W", _randn(self._shape(in_channels), scale, self.dtype))

    def _prepare(self, x: Operand) -> Operand:
        if self._lazy():
            self._init_W(_size(x, 1, type(self).__name__, "in_channels"))
        op = _CONV if self._layout == "conv" else _DECONV
        return as_dtype(x, self.W.dtype, op, type(self).__name__)


class Conv2d(_ConvBase):
    """2-D convolution ``conv2d(x, W, b, stride, pad)`` of NCHW input; ``W`` is
    ``(out_channels, in_channels, KH, KW)``, drawn from ``N(0, 1/(in_channels*KH*KW))``."""

    _layout = "conv"

    def _shape(self, in_channels: int) -> tuple[int, int, int, int]:
        return (self.out_channels, in_channels, *self.kernel_size)

    def forward(self, x: Operand) -> Variable:
        x = self._prepare(x)
        return conv2d(x, self.W, self.b, self.stride, self.pad)


class Deconv2d(_ConvBase):
    """Transposed convolution ``deconv2d(x, W, b, stride, pad)``; ``W`` is
    ``(in_channels, out_channels, KH, KW)``."""

    _layout = "deconv"

    def _shape(self, in_channels: int) -> tuple[int, int, int, int]:
        return (in_channels, self.out_channels, *self.kernel_size)

    def forward(self, x: Operand) -> Variable:
        x = self._prepare(x)
        return deconv2d(x, self.W, self.b, self.stride, self.pad)


# ---------------------------------------------------------------------- BatchNorm
class BatchNorm(Layer):
    """Batch normalization over every axis but 1 (``batch_norm``), with parameters ``gamma``
    (ones) and ``beta`` (zeros) and the running statistics ``avg_mean``/``avg_var`` as buffers
    (saved with the weights, not trained), all created at the first call from the channels of
    the input. ``test_mode()`` normalizes with the running statistics."""

    gamma: Parameter
    beta: Parameter
    avg_mean: Array
    avg_var: Array

    def __init__(
        self, decay: float = 0.9, eps: float = 2e-5, dtype: DTypeLike = np.float32
    ) -> None:
        super().__init__()
        self.decay, self.eps = decay, eps
        self.dtype = float_dtype(dtype, "BatchNorm")
        empty = np.empty(0, self.dtype)
        self.gamma = Parameter(empty.copy(), name="gamma")
        self.beta = Parameter(empty.copy(), name="beta")
        self.register_buffer("avg_mean", empty.copy())
        self.register_buffer("avg_var", empty.copy())
        for name in ("gamma", "beta", "avg_mean", "avg_var"):
            self._declare_lazy(name, (None,))

    def forward(self, x: Operand) -> Variable:
        if self._lazy():
            channels = _size(x, 1, "BatchNorm", "the channels")
            for name, fill in (("gamma", 1), ("beta", 0), ("avg_mean", 0), ("avg_var", 1)):
                self._create(name, np.full(channels, fill, self.dtype))
        x = as_dtype(x, self.gamma.dtype, _BATCH_NORM, "BatchNorm")
        return batch_norm(
            x, self.gamma, self.beta, self.avg_mean, self.avg_var, self.decay, self.eps
        )


# ---------------------------------------------------------------------- EmbedID
class EmbedID(Layer):
    """Embedding: ``W[ids]`` for integer ``ids`` of any shape, ``W`` of shape
    ``(in_size, out_size)`` drawn from ``N(0, 1)`` (DeZero's initialization)."""

    W: Parameter

    def __init__(self, in_size: int, out_size: int, dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        shape = (
            positive_int(in_size, "in_size", "EmbedID"),
            positive_int(out_size, "out_size", "EmbedID"),
        )
        self.W = Parameter(_randn(shape, 1.0, float_dtype(dtype, "EmbedID")), name="W")

    def forward(self, ids: Operand) -> Variable:
        if isinstance(ids, Variable):
            raise TypeError("EmbedID: ids are a Variable; pass the integer array itself")
        if isinstance(ids, float):
            raise TypeError(f"EmbedID: ids must be integers, got {ids!r}")
        if is_foreign(ids):  # never np.asarray'd by the op behind the user's back
            require_backend(ids, _EMBED_ID, "EmbedID")
        return embed_id(ids, self.W)


# ---------------------------------------------------------------------- RNN / LSTM
class RNN(Layer):
    """An Elman RNN: ``h = tanh(x2h(x) + h2h(h_prev))``, the state kept between calls until
    ``reset_state()``. (DeZero gave ``h2h`` the input size instead of the hidden size.)"""

    h: Variable | None

    def __init__(
        self, hidden_size: int, in_size: int | None = None, dtype: DTypeLike = np.float32
    ) -> None:
        super().__init__()
        hidden = positive_int(hidden_size, "hidden_size", "RNN")
        self.x2h = Linear(hidden, dtype=dtype, in_size=in_size)
        self.h2h = Linear(hidden, nobias=True, dtype=dtype, in_size=hidden)
        self.h = None

    def reset_state(self) -> None:
        """Forget the hidden state: the next call starts a new sequence."""
        self.h = None

    def forward(self, x: Operand) -> Variable:
        h = self.h
        h_new = tanh(self.x2h(x)) if h is None else tanh(self.x2h(x) + self.h2h(h))
        self.h = h_new
        return h_new


class LSTM(Layer):
    """A long short-term memory layer (DeZero's): gates ``f, i, o`` (sigmoid) and the
    update ``u`` (tanh) from ``x`` and the previous ``h``; ``c = f*c_prev + i*u``,
    ``h = o*tanh(c)``. The state ``(h, c)`` is kept between calls until ``reset_state()``."""

    h: Variable | None
    c: Variable | None

    def __init__(
        self, hidden_size: int, in_size: int | None = None, dtype: DTypeLike = np.float32
    ) -> None:
        super().__init__()
        hidden = positive_int(hidden_size, "hidden_size", "LSTM")
        self.x2f = Linear(hidden, dtype=dtype, in_size=in_size)
        self.x2i = Linear(hidden, dtype=dtype, in_size=in_size)
        self.x2o = Linear(hidden, dtype=dtype, in_size=in_size)
        self.x2u = Linear(hidden, dtype=dtype, in_size=in_size)
        self.h2f = Linear(hidden, nobias=True, dtype=dtype, in_size=hidden)
        self.h2i = Linear(hidden, nobias=True, dtype=dtype, in_size=hidden)
        self.h2o = Linear(hidden, nobias=True, dtype=dtype, in_size=hidden)
        self.h2u = Linear(hidden, nobias=True, dtype=dtype, in_size=hidden)
        self.reset_state()

    def reset_state(self) -> None:
        """Forget ``h`` and ``c``: the next call starts a new sequence."""
        self.h = None
        self.c = None

    def forward(self, x: Operand) -> Variable:
        h = self.h
        if h is None:
            f = sigmoid(self.x2f(x))
            i = sigmoid(self.x2i(x))
            o = sigmoid(self.x2o(x))
            u = tanh(self.x2u(x))
        else:
            f = sigmoid(self.x2f(x) + self.h2f(h))
            i = sigmoid(self.x2i(x) + self.h2i(h))
            o = sigmoid(self.x2o(x) + self.h2o(h))
            u = tanh(self.x2u(x) + self.h2u(h))
        c = i * u if self.c is None else f * self.c + i * u
        h_new = o * tanh(c)
        self.h, self.c = h_new, c
        return h_new
