"""The examples: ``python -m dezero_ext_nn.examples.spiral`` reaches 95% training accuracy
and draws its pictures when matplotlib is there; without tqdm or matplotlib it still trains
and says what it skipped. The LSTM example runs a short version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dezero_ext_nn.examples import sin_lstm, spiral


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
