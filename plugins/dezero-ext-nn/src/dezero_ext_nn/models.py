"""Models, DeZero's way: ``Model`` (a ``Layer`` that can draw its graph), ``Sequential`` and
``MLP``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from dezero_ext import Operand, Variable, as_variable
from dezero_ext.utils import plot_dot_graph
from dezero_ext_nn._layer import Layer, positive_int
from dezero_ext_nn.functions import sigmoid
from dezero_ext_nn.layers import Linear

__all__ = ["MLP", "Model", "Sequential"]

Activation = Callable[[Variable], Variable]


class Model(Layer):
    """The base of models: a ``Layer`` (parameters, ``save_weights``, ``load_weights``) that
    can also ``plot`` the graph of its forward pass."""

    def plot(self, *inputs: Operand, to_file: str | Path = "model.png") -> Path:
        """Run ``forward(*inputs)`` and draw its graph with Graphviz into ``to_file`` (see
        ``dezero_ext.utils.plot_dot_graph``); returns the path written."""
        y = self.forward(*inputs)
        return plot_dot_graph(y, verbose=True, to_file=to_file)


class Sequential(Model):
    """Layers (or functions of a Variable, such as ``F.relu``) applied in order; layers are
    registered as ``l0``, ``l1``, ..."""

    def __init__(self, *layers: Layer | Activation) -> None:
        super().__init__()
        self.layers: list[Layer | Activation] = []
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(
                    f"Sequential: item {i} is a {type(layer).__name__}, not a layer or a "
                    "function of a Variable"
                )
            setattr(self, f"l{i}", layer)
            self.layers.append(layer)

    def forward(self, x: Operand) -> Variable:
        y = x if isinstance(x, Variable) else as_variable(x)
        for layer in self.layers:
            y = layer(y)
        return y

    # a sequence of its layers, as PyTorch's nn.Sequential
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer | Activation:
        return self.layers[index]

    def __iter__(self) -> Iterator[Layer | Activation]:
        return iter(self.layers)


class MLP(Model):
    """A multi-layer perceptron: ``Linear`` layers of ``fc_output_sizes`` (``l0``, ``l1``, ...),
    with ``activation`` between them (sigmoid, as in DeZero) and none after the last."""

    def __init__(
        self,
        fc_output_sizes: Sequence[int],
        activation: Activation = sigmoid,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        if isinstance(fc_output_sizes, int) or not fc_output_sizes:
            raise ValueError(
                f"MLP: fc_output_sizes must be a non-empty sequence of layer sizes, e.g. "
                f"(10, 3), got {fc_output_sizes!r}"
            )
        self.activation = activation
        self.layers: list[Linear] = []
        for i, size in enumerate(fc_output_sizes):
            layer = Linear(positive_int(size, f"fc_output_sizes[{i}]", "MLP"), dtype=dtype)
            setattr(self, f"l{i}", layer)
            self.layers.append(layer)

    def forward(self, x: Operand) -> Variable:
        *hidden, last = self.layers
        for layer in hidden:
            x = self.activation(layer(x))
        return last(x)
