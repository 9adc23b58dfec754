"""Datasets, DeZero's way: ``Dataset(train=True, transform=None, target_transform=None)``
with ``prepare()`` filling ``data`` and ``label``; the toy sets ``Spiral`` and ``SinCurve``;
``MNIST``, ``FashionMNIST``, ``CIFAR10``, ``CIFAR100``, ``Shakespeare`` and
``ImageNet.labels()`` from the standard files in the cache directory (``dezero_ext_nn.files``),
downloaded when the network answers. Files are parsed without pickle: MNIST's IDX files,
CIFAR's *binary* archives (``cifar-10-binary.tar.gz``, ``cifar-100-binary.tar.gz``, not the
pickled Python ones DeZero read), and ImageNet's label list as a Python literal (DeZero ran
``eval`` on it). ``show()`` draws a grid of examples with matplotlib, as DeZero's.

``dataset[i]`` is one example ``(x, t)``; ``dataset[i:j]`` or ``dataset[indices]`` a batch of
them, stacked (DeZero accepted a single index only). The transforms apply per example.
"""

from __future__ import annotations

import ast
import gzip
from pathlib import Path
from typing import ClassVar

import numpy as np

from dezero_ext import Array
from dezero_ext_nn._cifar import CIFAR10, CIFAR100
from dezero_ext_nn._dataset import DEFAULT, DataFormatError, Dataset, _Default, show_grid
from dezero_ext_nn._text import Shakespear, Shakespeare
from dezero_ext_nn.files import get_file
from dezero_ext_nn.transforms import (
    AsType,
    Compose,
    Flatten,
    Normalize,
    ToFloat,
    ToInt,
    Transform,
)

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "DEFAULT",
    "MNIST",
    "AsType",
    "Compose",
    "DataFormatError",
    "Dataset",
    "FashionMNIST",
    "ImageNet",
    "Flatten",
    "Normalize",
    "Shakespear",
    "Shakespeare",
    "SinCurve",
    "Spiral",
    "ToFloat",
    "ToInt",
    "Transform",
    "get_spiral",
]


# ---------------------------------------------------------------------- toy datasets
def get_spiral(train: bool = True) -> tuple[Array, Array]:
    """DeZero's three-armed spiral: 300 points ``x`` (float32, shape (300, 2)) and class labels
    ``t`` (int64, 0 to 2), the same numbers as DeZero's (seed 1984 for training, 2020 for
    test), without touching NumPy's global random state."""
    rng = np.random.RandomState(1984 if train else 2020)
    num_data, num_class, input_dim = 100, 3, 2
    x = np.zeros((num_data * num_class, input_dim), dtype=np.float32)
    t = np.zeros(num_data * num_class, dtype=np.int64)
    for j in range(num_class):
        for i in range(num_data):
            rate = i / num_data
            radius = 1.0 * rate
            theta = j * 4.0 + 4.0 * rate + rng.randn() * 0.2
            ix = num_data * j + i
            x[ix] = np.array([radius * np.sin(theta), radius * np.cos(theta)])
            t[ix] = j
    indices = rng.permutation(num_data * num_class)
    return x[indices], t[indices]


class Spiral(Dataset[Array]):
    """The spiral data of ``get_spiral``: 300 examples of 2 features, 3 classes."""

    def prepare(self) -> None:
        self.data, self.label = get_spiral(self.train)


class SinCurve(Dataset[Array]):
    """A sine wave sampled at 1000 points over one period, as a sequence: example ``i`` is
    ``y[i]`` and its label the next value ``y[i + 1]`` (shapes (999, 1), float64). Training
    data is ``sin`` plus uniform noise in [-0.05, 0.05] drawn with ``seed``; test data is the
    noiseless ``cos``."""

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
        seed: int | None = 0,
    ) -> None:
        self.seed = seed
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        num_data = 1000
        x = np.linspace(0, 2 * np.pi, num_data)
        if self.train:
            noise = np.random.default_rng(self.seed).uniform(-0.05, 0.05, size=x.shape)
            y = np.sin(x) + noise
        else:
            y = np.cos(x)
        self.data = y[:-1, np.newaxis]
        self.label = y[1:, np.newaxis]


# ---------------------------------------------------------------------- MNIST
def _read_idx(path: Path, magic: int, dims: int) -> Array:
    """An IDX array of unsigned bytes (MNIST's format) from a gzip file: a big-endian header
    ``0x0000 08 dims`` then ``dims`` sizes, then the data."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataFormatError(
            f"{path}: not a gzip file ({exc}); delete it to download it again"
        ) from None
    header = 4 * (1 + dims)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataFormatError(
            f"{path}: not an IDX file of {dims}-d unsigned bytes (magic number {magic} expected)"
        )
    shape = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(1, dims + 1))
    data = np.frombuffer(raw, np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise DataFormatError(
            f"{path}: the header says {shape} but the file holds {data.size} bytes of data"
        )
    return data.reshape(shape)


class MNIST(Dataset[Array]):
    """MNIST digits: 60,000 training (``train=True``) or 10,000 test images, ``data`` of
    shape (N, 1, 28, 28) uint8, ``label`` int64 (DeZero: uint8). The default ``transform`` is
    DeZero's: flatten to 784 values, float32, divided by 255.

    Files (``train-images-idx3-ubyte.gz`` and the others) are in ``<cache>/mnist/``."""

    FOLDER: ClassVar[str] = "mnist"
    MIRRORS: ClassVar[tuple[str, ...]] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    SHA256: ClassVar[dict[str, str]] = {}  # none verified here: recorded at first download
    NAMES: ClassVar[tuple[str, ...]] = tuple(str(i) for i in range(10))

    def __init__(
        self,
        train: bool = True,
        transform: Transform | _Default | None = DEFAULT,
        target_transform: Transform | None = None,
    ) -> None:
        if transform is DEFAULT:
            transform = Compose([Flatten(), ToFloat(), Normalize(0.0, 255.0)])
        super().__init__(train, transform, target_transform)

    def _file(self, name: str) -> Path:
        return get_file(
            [base + name for base in self.MIRRORS],
            f"{self.FOLDER}/{name}",
            sha256=self.SHA256.get(name),
        )

    def prepare(self) -> None:
        prefix = "train" if self.train else "t10k"
        images = _read_idx(self._file(f"{prefix}-images-idx3-ubyte.gz"), 2051, 3)
        labels = _read_idx(self._file(f"{prefix}-labels-idx1-ubyte.gz"), 2049, 1)
        self.data = images[:, np.newaxis]
        self.label = labels.astype(np.int64)

    @classmethod
    def labels(cls) -> dict[int, str]:
        """Class index to name."""
        return dict(enumerate(cls.NAMES))

    def show(self, row: int = 10, col: int = 10) -> None:
        """Draw ``row`` x ``col`` examples picked at random (NumPy's global random state, as
        DeZero) in one grey picture with matplotlib (the ``[examples]`` extra)."""
        picks = np.random.randint(0, len(self.data), row * col)
        show_grid(self.data[picks, 0], row, col, f"{type(self).__name__}.show")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, ten kinds of clothing; files in
    ``<cache>/fashion-mnist/``."""

    FOLDER: ClassVar[str] = "fashion-mnist"
    MIRRORS: ClassVar[tuple[str, ...]] = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    )
    NAMES: ClassVar[tuple[str, ...]] = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


# ---------------------------------------------------------------------- ImageNet
class ImageNet:
    """ImageNet's 1000 class names (the images themselves are not provided)."""

    LABELS_URL: ClassVar[str] = (
        "https://gist.githubusercontent.com/yrevar/942d3a0ac09ec9e5eb3a/raw/"
        "238f720ff059c1f82f368259d1ca4ffa5dd8f9f5/imagenet1000_clsidx_to_labels.txt"
    )

    @classmethod
    def labels(cls) -> dict[int, str]:
        """Class index to name, read from ``imagenet1000_clsidx_to_labels.txt`` in the cache
        directory (a Python dict literal; downloaded when missing)."""
        path = get_file(cls.LABELS_URL)
        try:
            labels = ast.literal_eval(path.read_text(encoding="utf-8"))
        except (ValueError, SyntaxError) as exc:
            raise DataFormatError(f"{path}: not a Python dict literal of labels ({exc})") from None
        if not isinstance(labels, dict) or not all(
            isinstance(k, int) and isinstance(v, str) for k, v in labels.items()
        ):
            raise DataFormatError(f"{path}: not a dict of class index to name")
        return labels
