"""Models, DeZero's way: ``Model`` (a ``Layer`` that can draw its graph), ``Sequential`` and
``MLP``; ``VGG16`` and ``ResNet`` (50, 101, 152) with DeZero's layer names, ``preprocess`` and
``pretrained=`` weights from the cache directory (``dezero_ext_nn.files``).

DeZero's ResNet passed Chainer's argument order to its ``Conv2d`` (in, out, ksize, ...) and
could not be built; this one has the layout DeZero meant (Chainer's ResNet: MSRA downsampling
on the 1x1 convolution, unless ``downsample_fb``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import DTypeLike

from dezero_ext import Array, Operand, Variable, as_variable
from dezero_ext.utils import plot_dot_graph
from dezero_ext_nn._layer import Layer, positive_int
from dezero_ext_nn.files import DataFileMissingError, get_file
from dezero_ext_nn.functions import average_pooling, dropout, pooling, relu, reshape, sigmoid
from dezero_ext_nn.layers import BatchNorm, Conv2d, Linear

__all__ = [
    "MLP",
    "VGG16",
    "BottleneckA",
    "BottleneckB",
    "BuildingBlock",
    "Image",
    "Model",
    "ResNet",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "Sequential",
]

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


Pretrained = bool | str | Path
"""``False``: random weights; ``True``: the published weights (cached, downloaded when
missing); a path: the weights in that local ``.npz`` file."""

_RELEASES = "https://github.com/koki0702/dezero-models/releases/download/v0.1/"


class Image(Protocol):
    """What ``preprocess`` needs of an image: a PIL ``Image`` (``PIL.Image.open(path)``)."""

    def convert(self, mode: str) -> Image: ...

    def resize(self, size: tuple[int, int]) -> Image: ...


def _load_pretrained(model: Layer, pretrained: Pretrained, url: str) -> None:
    if pretrained is False:
        return
    if pretrained is True:
        path = get_file(url)
    else:
        path = Path(pretrained)
        if not path.exists():
            raise DataFileMissingError(
                f"{type(model).__name__}(pretrained={str(pretrained)!r}): no such weights file; "
                f"the published file is {url}"
            )
    model.load_weights(path)


def _conv(out: int, ksize: int, stride: int = 1, pad: int = 0, **kw: Any) -> Conv2d:
    return Conv2d(out, ksize, stride=stride, pad=pad, **kw)


# ---------------------------------------------------------------------- VGG16
class VGG16(Model):
    """VGG-16 (Simonyan and Zisserman), DeZero's layers: ``conv1_1`` ... ``conv5_3`` (3x3,
    pad 1), ``fc6``, ``fc7`` (4096, with dropout) and ``fc8`` (1000 classes).

    The layers learn their input sizes at the first call (or from the weights file), so the
    network runs on any image of at least 32x32; the published weights need 224x224 inputs
    (``fc6`` takes 512x7x7). ``pretrained=True`` loads DeZero's published ``vgg16.npz`` from
    the cache directory, downloading it when missing; a path loads that file. ``width`` (64)
    and ``fc_width`` (4096) shrink the network for tests: the channels are ``width`` times
    1, 2, 4, 8, 8.
    """

    WEIGHTS_PATH: ClassVar[str] = _RELEASES + "vgg16.npz"

    conv1_1: Conv2d
    conv1_2: Conv2d
    conv2_1: Conv2d
    conv2_2: Conv2d
    conv3_1: Conv2d
    conv3_2: Conv2d
    conv3_3: Conv2d
    conv4_1: Conv2d
    conv4_2: Conv2d
    conv4_3: Conv2d
    conv5_1: Conv2d
    conv5_2: Conv2d
    conv5_3: Conv2d

    def __init__(
        self,
        pretrained: Pretrained = False,
        dtype: DTypeLike = np.float32,
        *,
        width: int = 64,
        fc_width: int = 4096,
    ) -> None:
        super().__init__()
        w = positive_int(width, "width", "VGG16")
        widths = ((w, 2), (2 * w, 2), (4 * w, 3), (8 * w, 3), (8 * w, 3))
        self._convs: list[Conv2d] = []
        for stage, (width, count) in enumerate(widths, start=1):
            for i in range(1, count + 1):
                conv = _conv(width, 3, 1, 1, dtype=dtype)
                setattr(self, f"conv{stage}_{i}", conv)
                self._convs.append(conv)
        fc = positive_int(fc_width, "fc_width", "VGG16")
        self.fc6 = Linear(fc, dtype=dtype)
        self.fc7 = Linear(fc, dtype=dtype)
        self.fc8 = Linear(1000, dtype=dtype)
        self._stage_ends = {1, 3, 6, 9, 12}  # indices of the last conv of each stage
        _load_pretrained(self, pretrained, self.WEIGHTS_PATH)

    def forward(self, x: Operand) -> Variable:
        h: Operand = x
        for i, conv in enumerate(self._convs):
            h = relu(conv(h))
            if i in self._stage_ends:
                h = pooling(h, 2, 2)
        y = h if isinstance(h, Variable) else Variable(np.asarray(h))
        y = reshape(y, (y.shape[0], -1))
        y = dropout(relu(self.fc6(y)))
        y = dropout(relu(self.fc7(y)))
        return self.fc8(y)

    @staticmethod
    def preprocess(
        image: Image | Array,
        size: tuple[int, int] | None = (224, 224),
        dtype: DTypeLike = np.float32,
    ) -> Array:
        """An RGB image as the network's input: resized to ``size`` (PIL images), channels
        BGR, the ImageNet mean pixel subtracted, laid out (3, H, W) (DeZero's, Caffe's).

        ``image`` is a PIL image or an (H, W, 3) RGB array (not resized: give
        ``size=None`` or an array of that size already)."""
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(
                    f"VGG16.preprocess: an array image must be (H, W, 3) RGB, got shape "
                    f"{image.shape}"
                )
            if size is not None and image.shape[1::-1] != tuple(size):
                raise ValueError(
                    f"VGG16.preprocess: cannot resize an array ({image.shape[1]}x"
                    f"{image.shape[0]}) to {size[0]}x{size[1]}: pass a PIL image, or size=None"
                )
            array = np.array(image, dtype=dtype)
        else:
            picture = image.convert("RGB")
            if size:
                picture = picture.resize(size)
            array = np.array(picture, dtype=dtype)
        array = array[:, :, ::-1]
        array -= np.array([103.939, 116.779, 123.68], dtype=dtype)
        return np.ascontiguousarray(array.transpose((2, 0, 1)))


# ---------------------------------------------------------------------- ResNet blocks
class BottleneckA(Layer):
    """A bottleneck that changes the resolution: 1x1, 3x3, 1x1 convolutions with batch norm
    (``conv1``/``bn1`` ... ``conv3``/``bn3``) beside a 1x1 projection ``conv4``/``bn4``.

    ``stride`` goes on the first 1x1 convolution (MSRA's ResNet) or, with
    ``downsample_fb=True``, on the 3x3 one (Facebook's)."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 2,
        downsample_fb: bool = False,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        stride_1x1, stride_3x3 = (1, stride) if downsample_fb else (stride, 1)
        kw: dict[str, Any] = {"nobias": True, "dtype": dtype}
        self.conv1 = _conv(mid_channels, 1, stride_1x1, 0, in_channels=in_channels, **kw)
        self.bn1 = BatchNorm(dtype=dtype)
        self.conv2 = _conv(mid_channels, 3, stride_3x3, 1, in_channels=mid_channels, **kw)
        self.bn2 = BatchNorm(dtype=dtype)
        self.conv3 = _conv(out_channels, 1, 1, 0, in_channels=mid_channels, **kw)
        self.bn3 = BatchNorm(dtype=dtype)
        self.conv4 = _conv(out_channels, 1, stride, 0, in_channels=in_channels, **kw)
        self.bn4 = BatchNorm(dtype=dtype)

    def forward(self, x: Operand) -> Variable:
        h1 = relu(self.bn1(self.conv1(x)))
        h1 = relu(self.bn2(self.conv2(h1)))
        h1 = self.bn3(self.conv3(h1))
        h2 = self.bn4(self.conv4(x))
        return relu(h1 + h2)


class BottleneckB(Layer):
    """A bottleneck that keeps the resolution: 1x1, 3x3, 1x1 convolutions with batch norm,
    added to its input (``in_channels`` in and out)."""

    def __init__(self, in_channels: int, mid_channels: int, dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        kw: dict[str, Any] = {"nobias": True, "dtype": dtype}
        self.conv1 = _conv(mid_channels, 1, 1, 0, in_channels=in_channels, **kw)
        self.bn1 = BatchNorm(dtype=dtype)
        self.conv2 = _conv(mid_channels, 3, 1, 1, in_channels=mid_channels, **kw)
        self.bn2 = BatchNorm(dtype=dtype)
        self.conv3 = _conv(in_channels, 1, 1, 0, in_channels=mid_channels, **kw)
        self.bn3 = BatchNorm(dtype=dtype)

    def forward(self, x: Operand) -> Variable:
        h = relu(self.bn1(self.conv1(x)))
        h = relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return relu(h + x)


class BuildingBlock(Layer):
    """``n_layers`` bottlenecks: ``a`` (a ``BottleneckA``) then ``b1``, ``b2``, ...
    (``BottleneckB``)."""

    def __init__(
        self,
        n_layers: int,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int,
        downsample_fb: bool = False,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        count = positive_int(n_layers, "n_layers", "BuildingBlock")
        self.a = BottleneckA(in_channels, mid_channels, out_channels, stride, downsample_fb, dtype)
        self._forward: list[Layer] = [self.a]
        for i in range(1, count):
            block = BottleneckB(out_channels, mid_channels, dtype)
            setattr(self, f"b{i}", block)
            self._forward.append(block)

    def forward(self, x: Operand) -> Variable:
        h: Operand = x
        for block in self._forward:
            h = block(h)
        assert isinstance(h, Variable)  # block a ran at least
        return h


# ---------------------------------------------------------------------- ResNet
_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class ResNet(Model):
    """ResNet-50, 101 or 152 (He et al.), DeZero's layers: ``conv1`` (7x7, stride 2) and
    ``bn1``, 3x3 max pooling with stride 2, ``res2`` ... ``res5`` (``BuildingBlock``s) and
    ``fc6`` (1000 classes) after global average pooling.

    ``pretrained=True`` loads ``resnet{n_layers}.npz`` from the cache directory (downloading
    it from DeZero's release URL when missing); a path loads that file. The file must hold
    every parameter and each batch norm's running statistics (``avg_mean``, ``avg_var``).
    ``blocks`` and ``width`` shrink the network for tests: ``blocks=(1, 1, 1, 1), width=4``
    is a ResNet of every kind of layer with 4 channels where the real one has 64.
    """

    WEIGHTS_PATH: ClassVar[str] = _RELEASES + "resnet{}.npz"

    def __init__(
        self,
        n_layers: int = 152,
        pretrained: Pretrained = False,
        dtype: DTypeLike = np.float32,
        *,
        blocks: tuple[int, int, int, int] | None = None,
        width: int = 64,
    ) -> None:
        super().__init__()
        if blocks is None:
            if n_layers not in _BLOCKS:
                raise ValueError(f"ResNet: n_layers must be 50, 101 or 152, got {n_layers!r}")
            blocks = _BLOCKS[n_layers]
        w = positive_int(width, "width", "ResNet")
        self.n_layers = n_layers
        self.conv1 = _conv(w, 7, 2, 3, in_channels=3, dtype=dtype)
        self.bn1 = BatchNorm(dtype=dtype)
        self.res2 = BuildingBlock(blocks[0], w, w, 4 * w, 1, dtype=dtype)
        self.res3 = BuildingBlock(blocks[1], 4 * w, 2 * w, 8 * w, 2, dtype=dtype)
        self.res4 = BuildingBlock(blocks[2], 8 * w, 4 * w, 16 * w, 2, dtype=dtype)
        self.res5 = BuildingBlock(blocks[3], 16 * w, 8 * w, 32 * w, 2, dtype=dtype)
        self.fc6 = Linear(1000, dtype=dtype, in_size=32 * w)
        _load_pretrained(self, pretrained, self.WEIGHTS_PATH.format(n_layers))

    def forward(self, x: Operand) -> Variable:
        h = relu(self.bn1(self.conv1(x)))
        h = pooling(h, kernel_size=3, stride=2)
        h = self.res5(self.res4(self.res3(self.res2(h))))
        n, c, height, width = h.shape
        h = reshape(average_pooling(h, (height, width), stride=1), (n, c))
        return self.fc6(h)

    preprocess = staticmethod(VGG16.preprocess)


class ResNet152(ResNet):
    """``ResNet(152)``."""

    def __init__(self, pretrained: Pretrained = False, dtype: DTypeLike = np.float32) -> None:
        super().__init__(152, pretrained, dtype)


class ResNet101(ResNet):
    """``ResNet(101)``."""

    def __init__(self, pretrained: Pretrained = False, dtype: DTypeLike = np.float32) -> None:
        super().__init__(101, pretrained, dtype)


class ResNet50(ResNet):
    """``ResNet(50)``."""

    def __init__(self, pretrained: Pretrained = False, dtype: DTypeLike = np.float32) -> None:
        super().__init__(50, pretrained, dtype)
