"""Image datasets read from the standard files in the cache directory (``dezero_ext_nn.files``):
``MNIST``, ``FashionMNIST``, ``CIFAR10``, and ``ImageNet.labels()``.

Import them from ``dezero_ext_nn.datasets``. A missing file is downloaded when the network
answers (the first mirror that does); without one, ``DataFileMissingError`` names the file, the
URLs and the path to put it at. Files are parsed without pickle: MNIST's IDX files, CIFAR-10's
*binary* archive (``cifar-10-binary.tar.gz``, not the pickled Python one DeZero read), and
ImageNet's label list as a Python literal (DeZero ran ``eval`` on it).
"""

from __future__ import annotations

import ast
import enum
import gzip
import tarfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from dezero_ext import Array
from dezero_ext_nn.datasets import Dataset
from dezero_ext_nn.files import get_file
from dezero_ext_nn.transforms import Compose, Flatten, Normalize, ToFloat, Transform

__all__ = ["CIFAR10", "DEFAULT", "MNIST", "DataFormatError", "FashionMNIST", "ImageNet"]


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
