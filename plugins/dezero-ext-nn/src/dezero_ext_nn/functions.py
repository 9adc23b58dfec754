"""DeZero's ``functions`` module: ``import dezero_ext_nn.functions as F``.

Every typed function a DeZero program calls through ``F``: the built-in ops (``F.reshape``,
``F.sum``, ``F.matmul``), the math plugin's (``F.tanh``, ``F.exp``, ``F.log``, ``F.max``), the
nn plugin's (``F.linear``, ``F.sigmoid``, ``F.softmax_cross_entropy``, ``F.conv2d``), DeZero's
``*_simple`` variants (the same functions here), and ``accuracy``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dezero_ext import Array, Operand, Variable
from dezero_ext.ops import (
    add,
    broadcast_to,
    div,
    exp,
    expand_dims,
    flatten,
    get_item,
    matmul,
    mean,
    mul,
    neg,
    pow,  # noqa: A004 - DeZero's name
    reshape,
    square,
    sub,
    sum,  # noqa: A004 - DeZero's name
    sum_to,
    transpose,
)
from dezero_ext_math import (
    abs,  # noqa: A004 - DeZero's name
    clip,
    cos,
    log,
    log1p,
    logsumexp,
    max,  # noqa: A004 - DeZero's name
    maximum,
    min,  # noqa: A004 - DeZero's name
    minimum,
    sin,
    sqrt,
    tan,
    tanh,
)
from dezero_ext_nn.activation import leaky_relu, log_softmax, relu, sigmoid, softmax
from dezero_ext_nn.conv import conv2d, deconv2d
from dezero_ext_nn.layer_ops import batch_norm, dropout, embed_id, linear
from dezero_ext_nn.loss import (
    binary_cross_entropy,
    mean_squared_error,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
)
from dezero_ext_nn.pool import average_pooling, pooling
from dezero_ext_nn.sliding import col2im, im2col

__all__ = [
    "abs",
    "accuracy",
    "add",
    "average",
    "average_pooling",
    "batch_norm",
    "binary_cross_entropy",
    "broadcast_to",
    "clip",
    "col2im",
    "conv2d",
    "conv2d_simple",
    "cos",
    "deconv2d",
    "div",
    "dropout",
    "embed_id",
    "exp",
    "expand_dims",
    "flatten",
    "get_item",
    "im2col",
    "leaky_relu",
    "linear",
    "linear_simple",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mean_squared_error",
    "mean_squared_error_simple",
    "min",
    "minimum",
    "mul",
    "neg",
    "pooling",
    "pooling_simple",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "sigmoid_cross_entropy",
    "sigmoid_simple",
    "sin",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_simple",
    "softmax_simple",
    "sqrt",
    "square",
    "sub",
    "sum",
    "sum_to",
    "tan",
    "tanh",
    "transpose",
]

# DeZero's names for the same functions: its "simple" versions were the book's first,
# composite implementations; ``average`` is its name for ``mean``.
average = mean
linear_simple = linear
sigmoid_simple = sigmoid
softmax_simple = softmax
softmax_cross_entropy_simple = softmax_cross_entropy
mean_squared_error_simple = mean_squared_error
conv2d_simple = conv2d
pooling_simple = pooling


def accuracy(y: Operand, t: Variable | Array | Sequence[int]) -> Variable:
    """The fraction of examples whose highest score (``argmax`` over axis 1 of ``y``, shape
    ``(N, C, ...)``) is the label ``t`` (integers, shape ``(N, ...)``).

    Not differentiable (as in DeZero): a 0-d constant Variable, in ``y``'s dtype.
    """
    scores = y.data if isinstance(y, Variable) else np.asarray(y)
    labels = t.data if isinstance(t, Variable) else np.asarray(t)
    if scores.ndim < 2:
        raise ValueError(
            f"accuracy: y of shape {scores.shape} must be scores of shape (N, C, ...), the "
            "classes on axis 1"
        )
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels))
    ):
        raise TypeError(
            f"accuracy: t must hold integer class labels, got dtype {labels.dtype}; "
            "convert with t.astype(int)"
        )
    predicted = scores.argmax(axis=1)
    if predicted.shape != labels.shape:
        if labels.shape == scores.shape:
            raise ValueError(
                f"accuracy: t of shape {labels.shape} has the shape of y: one-hot labels? "
                "pass class indices, t.argmax(axis=1)"
            )
        if predicted.size != labels.size:
            raise ValueError(
                f"accuracy: y of shape {scores.shape} gives {predicted.size} predictions but t "
                f"of shape {labels.shape} has {labels.size} labels"
            )
        predicted = predicted.reshape(labels.shape)
    if predicted.size == 0:
        raise ValueError("accuracy: empty batch (y has no examples)")
    dtype = scores.dtype if scores.dtype.kind == "f" else np.dtype(np.float64)
    return Variable(np.asarray((predicted == labels).mean(), dtype=dtype), requires_grad=False)
