"""dezero-ext-nn: neural-network ops for dezero_ext, shipped as an ordinary plugin.

Found through its entry point (group ``dezero_ext``, name ``nn``). Each module declares its
ops beside their classes in an ``OpSet`` named ``ops``; the hook here gathers them. Each op is
also a typed function importable from its module and from here.
"""

from __future__ import annotations

from dezero_ext import OpDef, hookimpl
from dezero_ext_nn import activation, conv, layer_ops, loss, pool, sliding
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
    "average_pooling",
    "batch_norm",
    "binary_cross_entropy",
    "col2im",
    "conv2d",
    "deconv2d",
    "dezero_ext_ops",
    "dropout",
    "embed_id",
    "im2col",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mean_squared_error",
    "pooling",
    "relu",
    "sigmoid",
    "sigmoid_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
]


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    return [
        *activation.ops,
        *loss.ops,
        *layer_ops.ops,
        *conv.ops,
        *pool.ops,
        *sliding.ops,
    ]
