"""The book's MNIST programs (steps/step52.py: the GPU guard; steps/step53.py: weights saved
and loaded between runs) with only their imports changed, on a small MNIST the test writes in
a temporary cache directory (300 images whose class is a bright 4x4 square's position), with
fewer epochs. No network: the opener refuses."""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from dezero_ext import Array
from dezero_ext_nn import files

STEP52 = """
import time
import dezero_ext_nn as dezero  # import dezero
import dezero_ext_nn.functions as F  # import dezero.functions as F
from dezero_ext_nn import optimizers  # from dezero import optimizers
from dezero_ext_nn import DataLoader  # from dezero import DataLoader
from dezero_ext_nn.models import MLP  # from dezero.models import MLP


max_epoch = 3
batch_size = 100

train_set = dezero.datasets.MNIST(train=True)
train_loader = DataLoader(train_set, batch_size)
model = MLP((1000, 10))
optimizer = optimizers.SGD().setup(model)

# GPU mode
if dezero.cuda.gpu_enable:
    train_loader.to_gpu()
    model.to_gpu()

for epoch in range(max_epoch):
    start = time.time()
    sum_loss = 0

    for x, t in train_loader:
        y = model(x)
        loss = F.softmax_cross_entropy(y, t)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        sum_loss += float(loss.data) * len(t)

    elapsed_time = time.time() - start
    print('epoch: {}, loss: {:.4f}, time: {:.4f}[sec]'.format(
        epoch + 1, sum_loss / len(train_set), elapsed_time))
"""

STEP53 = """
import os
import dezero_ext_nn as dezero  # import dezero
import dezero_ext_nn.functions as F  # import dezero.functions as F
from dezero_ext_nn import optimizers  # from dezero import optimizers
from dezero_ext_nn import DataLoader  # from dezero import DataLoader
from dezero_ext_nn.models import MLP  # from dezero.models import MLP


max_epoch = 1
batch_size = 100

train_set = dezero.datasets.MNIST(train=True)
train_loader = DataLoader(train_set, batch_size)
model = MLP((1000, 10))
optimizer = optimizers.SGD().setup(model)

if os.path.exists('my_mlp.npz'):
    model.load_weights('my_mlp.npz')

for epoch in range(max_epoch):
    sum_loss = 0

    for x, t in train_loader:
        y = model(x)
        loss = F.softmax_cross_entropy(y, t)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        sum_loss += float(loss.data) * len(t)

    print('epoch: {}, loss: {:.4f}'.format(
        epoch + 1, sum_loss / len(train_set)))

model.save_weights('my_mlp.npz')
"""


def _idx(path: Path, array: Array) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _no_network(url: str) -> IO[bytes]:
    raise urllib.error.URLError(f"no network in tests ({url})")


@pytest.fixture
def mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A learnable MNIST of 300 images: class k has a bright 4x4 square at row 4 + 2k."""
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    images = rng.integers(0, 60, (300, 28, 28))
    for i, k in enumerate(labels):
        images[i, 4 + 2 * k : 8 + 2 * k, 10:14] = 255
    _idx(folder / "train-images-idx3-ubyte.gz", images)
    _idx(folder / "train-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    monkeypatch.chdir(tmp_path)
    np.random.seed(0)
    return tmp_path


def _run(program: str) -> list[float]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(program, "<book>", "exec"), {"__name__": "__main__"})
    return [float(v) for v in re.findall(r"loss: ([0-9.]+)", out.getvalue())]


def test_step52_trains_on_the_cpu_behind_the_gpu_guard(mnist: Path) -> None:
    losses = _run(STEP52)
    assert len(losses) == 3
    assert losses[2] < losses[0]


def test_step53_saves_and_picks_up_its_weights(mnist: Path) -> None:
    first = _run(STEP53)
    assert (mnist / "my_mlp.npz").exists()
    second = _run(STEP53)
    assert second[0] < first[0]  # the second run starts from the first run's weights


STEP58 = """
import numpy as np
from PIL import Image
import dezero_ext_nn as dezero  # import dezero
from dezero_ext_nn.models import VGG16  # from dezero.models import VGG16


url = 'https://github.com/oreilly-japan/deep-learning-from-scratch-3/raw/images/zebra.jpg'
img_path = dezero.utils.get_file(url)
img = Image.open(img_path)

x = VGG16.preprocess(img)
x = x[np.newaxis]

model = VGG16(pretrained=True)
with dezero.test_mode():
    y = model(x)
predict_id = np.argmax(y.data)

model.plot(x, to_file='vgg.pdf')
labels = dezero.datasets.ImageNet.labels()
print(labels[predict_id])
"""


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
    namespace: dict[str, object] = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if shutil.which("dot") is not None:
            exec(compile(STEP58, "<book>", "exec"), namespace)
        else:
            with pytest.raises(GraphvizNotFoundError):
                exec(compile(STEP58, "<book>", "exec"), namespace)
            last = "labels = dezero.datasets.ImageNet.labels()\nprint(labels[predict_id])\n"
            exec(compile(last, "<book>", "exec"), namespace)
    assert namespace["predict_id"] == 340
    assert out.getvalue().strip() == "class 340"
