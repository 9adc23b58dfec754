"""dezero-ext-nn: neural-network ops for dezero_ext, shipped as an ordinary plugin, and the
toolkit to train models the DeZero way.

This package is the public namespace (``import dezero_ext_nn as nn``): each op as a typed
function, also importable from its module. The plugin's entry point is ``dezero_ext_nn.plugin``
(group ``dezero_ext``, name ``nn``), whose hook gathers the ops each module declares.

The training toolkit is in ``functions`` (DeZero's ``F``), ``layers`` (``L``), ``models``,
``optimizers``, ``datasets``, ``transforms``, ``dataloaders`` and ``cuda``; this package also
carries the names DeZero's top level has (``Variable``, ``no_grad``, ``Model``,
``DataLoader``, ...), so that ``import dezero_ext_nn as dezero`` serves a program written
for ``import dezero``. The toolkit loads on first use: plugin discovery imports the ops only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dezero_ext import (
    Function,
    Parameter,
    Variable,
    as_array,
    as_variable,
    no_grad,
    test_mode,
    using_config,
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

if TYPE_CHECKING:  # the training toolkit, loaded on first use
    from dezero_ext_nn import (
        cuda,
        dataloaders,
        datasets,
        functions,
        layers,
        models,
        optimizers,
        schedules,
        transforms,
        utils,
    )
    from dezero_ext_nn._progress import Progress, progress
    from dezero_ext_nn.dataloaders import DataLoader, SeqDataLoader
    from dezero_ext_nn.datasets import Dataset
    from dezero_ext_nn.layers import Layer
    from dezero_ext_nn.models import Model

__all__ = [
    "DataLoader",
    "Dataset",
    "Function",
    "Layer",
    "Model",
    "Parameter",
    "Progress",
    "SeqDataLoader",
    "Variable",
    "as_array",
    "as_variable",
    "average_pooling",
    "batch_norm",
    "binary_cross_entropy",
    "col2im",
    "conv2d",
    "cuda",
    "dataloaders",
    "datasets",
    "deconv2d",
    "dropout",
    "embed_id",
    "functions",
    "im2col",
    "layers",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mean_squared_error",
    "models",
    "no_grad",
    "optimizers",
    "pooling",
    "progress",
    "relu",
    "schedules",
    "sigmoid",
    "sigmoid_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "test_mode",
    "transforms",
    "using_config",
    "utils",
]


_TOOLKIT = frozenset(
    {
        "cuda",
        "dataloaders",
        "datasets",
        "functions",
        "layers",
        "models",
        "optimizers",
        "schedules",
        "transforms",
        "utils",
    }
)
_TOOLKIT_NAMES = {
    "DataLoader": "dataloaders",
    "SeqDataLoader": "dataloaders",
    "Dataset": "datasets",
    "Layer": "layers",
    "Model": "models",
    "Progress": "_progress",
    "progress": "_progress",
}


def __getattr__(name: str) -> object:
    if name in _TOOLKIT:
        return importlib.import_module(f"dezero_ext_nn.{name}")
    if name in _TOOLKIT_NAMES:
        return getattr(importlib.import_module(f"dezero_ext_nn.{_TOOLKIT_NAMES[name]}"), name)
    raise AttributeError(f"module 'dezero_ext_nn' has no attribute {name!r}")
