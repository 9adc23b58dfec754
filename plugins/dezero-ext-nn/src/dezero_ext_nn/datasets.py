"""Datasets, DeZero's way: ``Dataset(train=True, transform=None, target_transform=None)``
with ``prepare()`` filling ``data`` and ``label``; the toy sets ``Spiral`` and ``SinCurve``;
``MNIST``, ``FashionMNIST``, ``CIFAR10`` and ``ImageNet.labels()`` from the standard files in
the cache directory (``dezero_ext_nn.files``), downloaded when the network answers. Files are
parsed without pickle: MNIST's IDX files, CIFAR-10's *binary* archive
(``cifar-10-binary.tar.gz``, not the pickled Python one DeZero read), and ImageNet's label list
as a Python literal (DeZero ran ``eval`` on it).

``dataset[i]`` is one example ``(x, t)``; ``dataset[i:j]`` or ``dataset[indices]`` a batch of
them, stacked (DeZero accepted a single index only). The transforms apply per example.
"""

from __future__ import annotations

import ast
import enum
import gzip
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Generic, SupportsIndex, TypeVar, cast

import numpy as np

from dezero_ext import Array
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
    "SinCurve",
    "Spiral",
    "ToFloat",
    "ToInt",
    "Transform",
    "get_spiral",
]

L = TypeVar("L")
"""The label type: ``Array`` for a labelled dataset, ``None`` for one without labels."""

Index = SupportsIndex | slice | Sequence[int] | Array


class Dataset(Generic[L]):
    """A dataset of examples ``data[i]`` with labels ``label[i]`` (or None).

    Subclasses set ``self.data`` and ``self.label`` in ``prepare()``, which the constructor
    calls. ``transform`` applies to each example's data, ``target_transform`` to its label.
    """

    data: Array
    label: Array | None

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
    ) -> None:
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.label = None
        self.prepare()
        if getattr(self, "data", None) is None:
            raise TypeError(
                f"{type(self).__name__}.prepare() must set self.data (an array of examples)"
            )
        if self.label is not None and len(self.label) != len(self.data):
            raise ValueError(
                f"{type(self).__name__}: {len(self.data)} examples but {len(self.label)} labels"
            )

    def prepare(self) -> None:
        """Fill ``self.data`` and ``self.label`` (subclasses)."""

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: Index) -> tuple[Array, L]:
        """One example ``(x, t)`` for an integer index; for a slice or an array of indices,
        the examples stacked into a batch ``(xs, ts)``."""
        if isinstance(index, (int, np.integer)):
            return self._one(int(index))
        if isinstance(index, SupportsIndex) and not isinstance(index, np.ndarray):
            return self._one(index.__index__())
        return self._batch(index)

    def _one(self, i: int) -> tuple[Array, L]:
        x = self.data[i]
        if self.transform is not None:
            x = self.transform(x)
        if self.label is None:
            return x, cast(L, None)
        t = self.label[i]
        if self.target_transform is not None:
            t = self.target_transform(t)
        return x, cast(L, np.asarray(t))

    def _batch(self, index: slice | Sequence[int] | Array) -> tuple[Array, L]:
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype.kind not in "iu" and index.size:
                raise TypeError(
                    f"{type(self).__name__}: index an example with integers or a slice, got an "
                    f"array of dtype {index.dtype}"
                )
            index = index.astype(np.intp, copy=False)
        if self.transform is None and self.target_transform is None:
            labels = None if self.label is None else self.label[index]
            return self.data[index], cast(L, labels)
        positions = np.arange(len(self))[index]
        examples = [self._one(int(i)) for i in positions]
        xs = np.stack([x for x, _ in examples]) if examples else self.data[index]
        if self.label is None:
            return xs, cast(L, None)
        ts = np.stack([np.asarray(t) for _, t in examples]) if examples else self.label[index]
        return xs, cast(L, ts)


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


class _Default(enum.Enum):
    DEFAULT = "the dataset's default transform"


DEFAULT = _Default.DEFAULT
"""The dataset's own default ``transform`` (DeZero's); ``transform=None`` gives raw data."""


class DataFormatError(ValueError):
    """A dataset file is not in the format its name says."""


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


# ---------------------------------------------------------------------- CIFAR-10
_RECORD = 1 + 3 * 32 * 32  # a label byte, then 1024 red, 1024 green, 1024 blue


class CIFAR10(Dataset[Array]):
    """CIFAR-10: 50,000 training or 10,000 test images, ``data`` (N, 3, 32, 32) uint8,
    ``label`` int64. The default ``transform`` is DeZero's: float32, ``(x - 0.5) / 0.5``.

    Read from the binary archive ``cifar-10-binary.tar.gz`` in the cache directory (members
    ``cifar-10-batches-bin/data_batch_1.bin`` ... ``_5.bin`` and ``test_batch.bin``)."""

    URL: ClassVar[str] = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    SHA256: ClassVar[str | None] = None  # not verified here: recorded at first download
    NAMES: ClassVar[tuple[str, ...]] = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )

    def __init__(
        self,
        train: bool = True,
        transform: Transform | _Default | None = DEFAULT,
        target_transform: Transform | None = None,
    ) -> None:
        if transform is DEFAULT:
            transform = Compose([ToFloat(), Normalize(mean=0.5, std=0.5)])
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        path = get_file(self.URL, sha256=self.SHA256)
        wanted = [f"data_batch_{i}.bin" for i in range(1, 6)] if self.train else ["test_batch.bin"]
        chunks = [_cifar_member(path, name) for name in wanted]
        records = np.concatenate(chunks).reshape(-1, _RECORD)
        self.label = records[:, 0].astype(np.int64)
        self.data = records[:, 1:].reshape(-1, 3, 32, 32)

    @classmethod
    def labels(cls) -> dict[int, str]:
        """Class index to name."""
        return dict(enumerate(cls.NAMES))


def _cifar_member(path: Path, name: str) -> Array:
    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.getmember(f"cifar-10-batches-bin/{name}")
            stream = archive.extractfile(member)
            if stream is None:
                raise KeyError(name)
            raw = stream.read()
    except KeyError:
        raise DataFormatError(
            f"{path}: no member cifar-10-batches-bin/{name}; is it the binary version "
            "(cifar-10-binary.tar.gz)?"
        ) from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: not a .tar.gz archive ({exc})") from None
    if len(raw) % _RECORD:
        raise DataFormatError(
            f"{path}: {name} holds {len(raw)} bytes, not a whole number of {_RECORD}-byte records"
        )
    return np.frombuffer(raw, np.uint8)


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
