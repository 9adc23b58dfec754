"""MNIST, FashionMNIST, CIFAR10 and ImageNet labels (dezero_ext_nn.datasets) from small files
the tests write in a temporary cache directory; downloads from file:// URLs; the offline
error. Never the network: the opener is replaced by one that refuses."""

from __future__ import annotations

import gzip
import io
import tarfile
import urllib.error
from pathlib import Path
from typing import IO

import numpy as np
import pytest

import dezero_ext_nn as dezero
from dezero_ext import Array
from dezero_ext_nn import files
from dezero_ext_nn.datasets import (
    CIFAR10,
    MNIST,
    DataFormatError,
    FashionMNIST,
    ImageNet,
)
from dezero_ext_nn.files import ChecksumError, DataFileMissingError


def _no_network(url: str) -> IO[bytes]:
    raise urllib.error.URLError(f"no network in tests ({url})")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DEZERO_EXT_DATA", str(folder))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    return folder


def _idx(path: Path, array: Array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _mnist_files(folder: Path, prefix: str, n: int) -> tuple[Array, Array]:
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    _idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


def test_mnist_reads_the_idx_files_with_dezero_s_default_transform(cache: Path) -> None:
    images, labels = _mnist_files(cache / "mnist", "train", 5)
    test_images, _ = _mnist_files(cache / "mnist", "t10k", 3)
    train = MNIST()
    assert len(train) == 5
    assert train.data.shape == (5, 1, 28, 28)
    assert train.data.dtype == np.uint8
    np.testing.assert_array_equal(train.data[:, 0], images)
    np.testing.assert_array_equal(train.label, labels)
    assert train.label is not None
    assert train.label.dtype == np.int64
    x, t = train[2]
    assert x.shape == (784,)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, images[2].reshape(-1) / 255.0, rtol=1e-6)
    assert t == labels[2]
    test = MNIST(train=False, transform=None, target_transform=lambda t: t + 100)
    assert len(test) == 3
    x, t = test[0]
    np.testing.assert_array_equal(x, test_images[0][None])  # raw, as DeZero's transform=None
    assert t >= 100
    assert MNIST.labels()[7] == "7"
    assert dezero.datasets.MNIST is MNIST


def test_mnist_trains_through_a_data_loader(cache: Path) -> None:
    _mnist_files(cache / "mnist", "train", 7)
    loader = dezero.DataLoader(MNIST(), batch_size=4, shuffle=False)
    x, t = next(loader)
    assert x.shape == (4, 784)
    assert t.shape == (4,)


def test_fashion_mnist_has_its_own_folder_and_names(cache: Path) -> None:
    _mnist_files(cache / "mnist", "train", 2)
    images, _ = _mnist_files(cache / "fashion-mnist", "train", 4)
    data = FashionMNIST(transform=None)
    assert len(data) == 4
    np.testing.assert_array_equal(data.data[:, 0], images)
    assert FashionMNIST.labels()[9] == "Ankle boot"


def test_offline_error_names_the_file_the_urls_and_where_to_put_it(cache: Path) -> None:
    with pytest.raises(DataFileMissingError) as caught:
        MNIST()
    message = str(caught.value)
    assert "train-images-idx3-ubyte.gz" in message
    for mirror in MNIST.MIRRORS:
        assert mirror + "train-images-idx3-ubyte.gz" in message
    assert str(cache / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "DEZERO_EXT_DATA" in message
    assert not list((cache / "mnist").iterdir())  # no partial file left


def test_a_file_that_is_not_idx_is_named(cache: Path) -> None:
    _mnist_files(cache / "mnist", "train", 2)
    (cache / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0" * 20))
    with pytest.raises(DataFormatError, match=r"train-labels-idx1-ubyte\.gz: not an IDX file"):
        MNIST()


def test_mnist_downloads_from_the_first_mirror_that_answers(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    published = tmp_path / "published"
    images, _ = _mnist_files(published, "t10k", 3)
    monkeypatch.setattr(files, "_urlopen", urllib.request.urlopen)  # file:// only, below
    monkeypatch.setattr(
        MNIST, "MIRRORS", ((tmp_path / "missing").as_uri() + "/", published.as_uri() + "/")
    )
    data = MNIST(train=False, transform=None)
    np.testing.assert_array_equal(data.data[:, 0], images)
    cached = cache / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert cached.read_bytes() == (published / cached.name).read_bytes()
    record = cache / "mnist" / "t10k-images-idx3-ubyte.gz.sha256"
    assert record.read_text().split()[0] == files.sha256_of(cached)
    # a known checksum that does not match: the download is removed
    cached.unlink()
    monkeypatch.setattr(MNIST, "SHA256", {"t10k-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(ChecksumError, match="expected 0000"):
        MNIST(train=False)
    assert not cached.exists()


def _cifar_archive(path: Path, batches: dict[str, tuple[Array, Array]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, (images, labels) in batches.items():
            records = np.concatenate(
                [labels[:, None].astype(np.uint8), images.reshape(len(images), -1)], axis=1
            ).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(records)
            archive.addfile(info, io.BytesIO(records))


def test_cifar10_reads_the_binary_archive(cache: Path) -> None:
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        batches[name] = (
            rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 10, 2, dtype=np.uint8),
        )
    _cifar_archive(cache / "cifar-10-binary.tar.gz", batches)
    train = CIFAR10()
    assert train.data.shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(train.data[2:4], batches["data_batch_2.bin"][0])
    assert train.label is not None
    np.testing.assert_array_equal(train.label[8:], batches["data_batch_5.bin"][1])
    x, _ = train[0]
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (batches["data_batch_1.bin"][0][0] - 0.5) / 0.5)
    test = CIFAR10(train=False, transform=None)
    np.testing.assert_array_equal(test.data, batches["test_batch.bin"][0])
    assert CIFAR10.labels()[0] == "airplane"


def test_cifar10_python_archive_is_named_as_the_wrong_version(cache: Path) -> None:
    _cifar_archive(cache / "cifar-10-binary.tar.gz", {})
    with pytest.raises(DataFormatError, match="binary version"):
        CIFAR10()


def test_imagenet_labels_are_read_without_eval(cache: Path) -> None:
    cache.mkdir()
    path = cache / "imagenet1000_clsidx_to_labels.txt"
    path.write_text("{0: 'tench, Tinca tinca',\n 1: 'goldfish, Carassius auratus'}\n")
    assert ImageNet.labels() == {0: "tench, Tinca tinca", 1: "goldfish, Carassius auratus"}
    path.write_text("__import__('os').getcwd()")
    (cache / "imagenet1000_clsidx_to_labels.txt.sha256").unlink()
    with pytest.raises(DataFormatError, match="not a Python dict literal"):
        ImageNet.labels()


def test_imagenet_labels_offline(cache: Path) -> None:
    with pytest.raises(DataFileMissingError, match="imagenet1000_clsidx_to_labels.txt"):
        ImageNet.labels()
