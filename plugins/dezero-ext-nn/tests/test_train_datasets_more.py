"""CIFAR-100 (fine and coarse labels), Shakespeare (DeZero's ``Shakespear``) and ``show()``
(dezero_ext_nn.datasets) from small files the tests write in a temporary cache directory;
never the network: the opener refuses."""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
import types
import urllib.error
from pathlib import Path
from typing import IO

import numpy as np
import pytest

import dezero_ext_nn as dezero
from dezero_ext import Array
from dezero_ext_nn import files
from dezero_ext_nn.datasets import CIFAR10, CIFAR100, MNIST, DataFormatError, Shakespeare
from dezero_ext_nn.files import DataFileMissingError


def _no_network(url: str) -> IO[bytes]:
    raise urllib.error.URLError(f"no network in tests ({url})")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("DEZERO_EXT_DATA", str(folder))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    return folder


def _cifar100(path: Path, parts: dict[str, tuple[Array, Array, Array]]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, (images, coarse, fine) in parts.items():
            records = np.concatenate(
                [coarse[:, None], fine[:, None], images.reshape(len(images), -1)], axis=1
            ).astype(np.uint8)
            info = tarfile.TarInfo(f"cifar-100-binary/{name}")
            info.size = records.nbytes
            archive.addfile(info, io.BytesIO(records.tobytes()))


def test_cifar100_reads_fine_or_coarse_labels(cache: Path) -> None:
    rng = np.random.default_rng(0)
    parts = {
        name: (
            rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 20, n, dtype=np.uint8),
            rng.integers(0, 100, n, dtype=np.uint8),
        )
        for name, n in (("train.bin", 4), ("test.bin", 3))
    }
    _cifar100(cache / "cifar-100-binary.tar.gz", parts)
    fine = CIFAR100()
    np.testing.assert_array_equal(fine.data, parts["train.bin"][0])
    assert fine.label is not None and fine.label.dtype == np.int64
    np.testing.assert_array_equal(fine.label, parts["train.bin"][2])
    x, _ = fine[1]
    np.testing.assert_allclose(x, (parts["train.bin"][0][1] - 0.5) / 0.5)  # DeZero's transform
    coarse = CIFAR100(train=False, label_type="coarse", transform=None)
    np.testing.assert_array_equal(coarse.data, parts["test.bin"][0])
    assert coarse.label is not None
    np.testing.assert_array_equal(coarse.label, parts["test.bin"][1])
    assert len(CIFAR100.labels()) == 100 and CIFAR100.labels()[0] == "apple"
    assert CIFAR100.labels()[99] == "worm"
    coarse_names = CIFAR100.labels("coarse")
    assert len(coarse_names) == 20 and coarse_names[19] == "vehicles_2"


def test_cifar100_refuses_an_unknown_label_type_and_a_cifar10_archive(cache: Path) -> None:
    with pytest.raises(ValueError, match=r"label_type must be 'fine' \(100 classes\)"):
        CIFAR100(label_type="medium")
    with tarfile.open(cache / "cifar-100-binary.tar.gz", "w:gz"):
        pass  # an archive without cifar-100-binary/train.bin
    with pytest.raises(DataFormatError, match=r"no member cifar-100-binary/train\.bin"):
        CIFAR100()


def test_cifar100_offline_error_names_the_archive(cache: Path) -> None:
    with pytest.raises(DataFileMissingError, match=r"cifar-100-binary\.tar\.gz"):
        CIFAR100()


def test_shakespeare_is_character_ids_each_labelled_with_the_next(cache: Path) -> None:
    (cache / "shakespear.txt").write_text("to be, or not to be", encoding="utf-8")
    data = dezero.datasets.Shakespear()  # DeZero's spelling
    assert isinstance(data, Shakespeare)
    assert data.char_to_id["t"] == 0 and data.char_to_id["o"] == 1  # order of appearance
    assert "".join(data.id_to_char[int(i)] for i in data.data) == "to be, or not to b"
    assert data.label is not None
    assert "".join(data.id_to_char[int(i)] for i in data.label) == "o be, or not to be"
    x, t = data[3]
    assert (int(x), int(t)) == (data.char_to_id["b"], data.char_to_id["e"])


def test_shakespeare_offline_error_and_a_file_that_is_not_text(cache: Path) -> None:
    with pytest.raises(DataFileMissingError, match=r"shakespear\.txt"):
        Shakespeare()
    (cache / "shakespear.txt").write_bytes(gzip.compress(b"x" * 50))
    with pytest.raises(DataFormatError, match="not UTF-8 text"):
        Shakespeare()


class _Pyplot(types.ModuleType):
    """matplotlib.pyplot's stand-in: the calls show() makes."""

    def __init__(self) -> None:
        super().__init__("matplotlib.pyplot")
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def _mnist(cache: Path, n: int) -> Array:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    for name, array, magic in (
        ("train-images-idx3-ubyte.gz", images, 2051),
        ("train-labels-idx1-ubyte.gz", np.zeros(n, np.uint8), 2049),
    ):
        (cache / "mnist").mkdir(exist_ok=True)
        header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
        (cache / "mnist" / name).write_bytes(gzip.compress(header + array.tobytes()))
    return images


def test_mnist_show_tiles_random_examples_in_a_grey_picture(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _mnist(cache, 7)
    pyplot = _Pyplot()
    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    np.random.seed(3)
    picks = np.random.randint(0, 7, 6)
    np.random.seed(3)
    MNIST().show(row=2, col=3)
    assert [name for name, _, _ in pyplot.calls] == ["imshow", "axis", "show"]
    _, (picture,), options = pyplot.calls[0]
    assert isinstance(picture, np.ndarray) and picture.shape == (56, 84)
    assert options["cmap"] == "gray"
    np.testing.assert_array_equal(picture[28:, 56:], images[picks[5]])  # row 2, column 3


def test_cifar10_show_is_in_colour(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([np.zeros((1, 1), np.uint8), images.reshape(1, -1)], axis=1)
    with tarfile.open(cache / "cifar-10-binary.tar.gz", "w:gz") as archive:
        for i in range(1, 6):
            info = tarfile.TarInfo(f"cifar-10-batches-bin/data_batch_{i}.bin")
            info.size = records.nbytes
            archive.addfile(info, io.BytesIO(records.tobytes()))
    pyplot = _Pyplot()
    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    CIFAR10().show(row=1, col=2)
    _, (picture,), options = pyplot.calls[0]
    assert isinstance(picture, np.ndarray) and picture.shape == (32, 64, 3)
    assert options["cmap"] is None
    np.testing.assert_allclose(picture[:, :32], images[0].transpose(1, 2, 0) / 255)


def test_show_without_matplotlib_names_the_extra(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mnist(cache, 3)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"MNIST\.show draws with matplotlib.*\[examples\]"):
        MNIST().show()
