"""The book's MNIST programs (book/steps/step51.py: train and test; step52.py: the GPU
guard; step53.py: weights saved and loaded between runs) through book_steps.py's import
mapping, on a small MNIST the test writes in a temporary cache directory (300 training and 100
test images whose class is a bright 4x4 square's position), with QUICK's fewer epochs; and
step58.py (VGG16) with a weights file the test writes. No network: the opener refuses."""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import IO

import book_steps
import numpy as np
import pytest

from dezero_ext import Array
from dezero_ext_nn import files


def _idx(path: Path, array: Array) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _no_network(url: str) -> IO[bytes]:
    raise urllib.error.URLError(f"no network in tests ({url})")


@pytest.fixture
def mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A learnable MNIST of 300 training and 100 test images: class k has a bright 4x4 square
    at row 4 + 2k."""
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, size in (("train", 300), ("t10k", 100)):
        labels = rng.integers(0, 10, size)
        images = rng.integers(0, 60, (size, 28, 28))
        for i, k in enumerate(labels):
            images[i, 4 + 2 * k : 8 + 2 * k, 10:14] = 255
        _idx(folder / f"{part}-images-idx3-ubyte.gz", images)
        _idx(folder / f"{part}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    monkeypatch.chdir(tmp_path)
    np.random.seed(0)
    return tmp_path


def _run(step: int, pattern: str = r"loss: ([0-9.]+)") -> list[float]:
    run = book_steps.run_step(step)
    assert run.error is None, run.error
    return [float(v) for v in re.findall(pattern, run.printed)]


def test_step51_trains_and_tests_an_mlp(mnist: Path) -> None:
    train = _run(51, r"train loss: ([0-9.]+)")
    test = _run(51, r"test loss: ([0-9.]+)")
    assert len(train) == len(test) == 2  # QUICK's 2 epochs of the book's 5
    assert train[1] < train[0] and test[1] < test[0]


def test_step52_trains_on_the_cpu_behind_the_gpu_guard(mnist: Path) -> None:
    losses = _run(52)
    assert len(losses) == 2
    assert losses[1] < losses[0]


def test_step53_saves_and_picks_up_its_weights(mnist: Path) -> None:
    first = _run(53)
    assert (mnist / "my_mlp.npz").exists()
    second = _run(53)
    assert second[0] < first[0]  # the second run starts from the first run's weights


@pytest.mark.slow
def test_step58_vgg16_with_local_weights_image_and_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full VGG16 on a 224x224 image: a 550 MB weights file the test writes (DeZero's
    layout, random numbers, fc8's bias picking class 340), a picture and the label list, all
    in the cache directory; Graphviz's dot draws the graph when it is installed."""
    image_module = pytest.importorskip("PIL.Image")
    import shutil

    from dezero_ext.utils import GraphvizNotFoundError

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("DEZERO_EXT_DATA", str(cache))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    image_module.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(
        cache / "zebra.jpg"
    )
    widths = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    weights: dict[str, Array] = {}
    channels = 3
    for stage, count in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)):
        for i in range(1, count + 1):
            width = widths[stage]
            scale = np.sqrt(2 / (channels * 9))
            weights[f"conv{stage}_{i}/W"] = (
                rng.standard_normal((width, channels, 3, 3)) * scale
            ).astype(np.float32)
            weights[f"conv{stage}_{i}/b"] = np.zeros(width, np.float32)
            channels = width
    for name, (n_in, n_out) in {
        "fc6": (25088, 4096),
        "fc7": (4096, 4096),
        "fc8": (4096, 1000),
    }.items():
        weights[f"{name}/W"] = np.zeros((n_in, n_out), np.float32)
        weights[f"{name}/b"] = np.zeros(n_out, np.float32)
    weights["fc8/b"][340] = 1.0
    savez: Callable[..., None] = np.savez  # numpy's stub reads **arrays as allow_pickle
    savez(cache / "vgg16.npz", **weights)
    del weights
    (cache / "imagenet1000_clsidx_to_labels.txt").write_text(
        "{" + ",\n".join(f"{i}: 'class {i}'" for i in range(1000)) + "}"
    )
    run = book_steps.run_step(58)
    printed = run.printed
    if shutil.which("dot") is None:  # model.plot drew nothing: the last two lines, by hand
        assert isinstance(run.error, GraphvizNotFoundError)
        out = io.StringIO()
        last = "labels = dezero.datasets.ImageNet.labels()\nprint(labels[predict_id])\n"
        with contextlib.redirect_stdout(out):
            exec(compile(last, "<book>", "exec"), run.namespace)
        printed = out.getvalue()
    else:
        assert run.error is None
    assert run.namespace["predict_id"] == 340
    assert printed.strip() == "class 340"
