"""The examples: ``python -m dezero_ext_nn.examples.spiral`` reaches 95% training accuracy
and draws its pictures when matplotlib is there; without tqdm or matplotlib it still trains
and says what it skipped. The LSTM example runs a short version."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from dezero_ext_nn import files
from dezero_ext_nn.examples import mnist, sin_lstm, spiral


def test_the_spiral_example_reaches_95_percent_with_its_defaults() -> None:
    history = spiral.train(show_progress=False, log=lambda _: None)
    assert history.accuracy >= 0.95
    assert history.losses[-1] < history.losses[0] / 10


def test_a_short_spiral_run_writes_its_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    assert spiral.main(["--epochs", "5", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "5 epochs: final loss" in out and "training accuracy" in out
    for name in ("spiral_loss.png", "spiral_boundary.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name


def test_without_the_extras_it_trains_and_says_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert spiral.main(["--epochs", "3", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "training accuracy" in captured.out
    assert "no progress bar: tqdm is not installed" in captured.err
    assert "epoch 3/3" in captured.err  # progress as lines instead
    assert "skipped the pictures: matplotlib is not installed" in captured.err
    assert "pip install 'dezero-ext-nn[examples]'" in captured.err
    assert not list(tmp_path.iterdir())


def test_the_module_runs_from_the_command_line() -> None:
    result = subprocess.run(  # --quiet: no progress at all
        [
            sys.executable,
            "-m",
            "dezero_ext_nn.examples.spiral",
            "--epochs",
            "2",
            "--no-plots",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "MLP (30, 30), 2 epochs" in result.stdout
    assert result.stderr == ""


def test_the_lstm_example_learns_the_sine_a_little(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = sin_lstm.train(epochs=3, hidden=10, show_progress=False, log=lambda _: None)
    assert history.losses[-1] < history.losses[0]
    assert sin_lstm.main(["--epochs", "1", "--hidden", "5", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "one-step prediction of cos, mean squared error" in out


def _mnist_files(folder: Path) -> None:
    """A learnable MNIST: 200 training and 100 test images whose class k is a bright 4x4
    square at row 4 + 2k."""
    import gzip

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, size in (("train", 200), ("t10k", 100)):
        labels = rng.integers(0, 10, size)
        images = rng.integers(0, 60, (size, 28, 28))
        for i, k in enumerate(labels):
            images[i, 4 + 2 * k : 8 + 2 * k, 10:14] = 255
        for kind, array, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            dims = b"".join(d.to_bytes(4, "big") for d in array.shape)
            data = magic.to_bytes(4, "big") + dims + array.astype(np.uint8).tobytes()
            (folder / f"{part}-{kind}-ubyte.gz").write_bytes(gzip.compress(data))


def test_the_mnist_example_runs_from_outside_the_repository(tmp_path: Path) -> None:
    _mnist_files(tmp_path / "cache" / "mnist")
    env = {**os.environ, "DEZERO_EXT_DATA": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "dezero_ext_nn.examples.mnist", "--epochs", "3"]
    result = subprocess.run(
        [*command, "--hidden", "50", "--lr", "0.01", "--batch-size", "20"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    accuracies = [float(v) for v in re.findall(r"test accuracy ([0-9.]+)", result.stdout)]
    assert len(accuracies) == 3 and accuracies[-1] > 0.5  # chance is 0.1
    assert "epoch 3/3 10/10" in result.stderr  # the progress, as lines off a terminal


def test_the_mnist_example_offline_says_what_to_put_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(url: str) -> IO[bytes]:
        raise urllib.error.URLError(f"no network in tests ({url})")

    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path))
    monkeypatch.setattr(files, "_urlopen", refuse)
    assert mnist.main(["--quiet"]) == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and str(tmp_path / "mnist") in err
