"""The digits example (issue 23, item 4): the MLP trained from a Dask array made chunk by chunk
as batches are drawn has NumPy's loss curve to the bit (float64); each batch is one Dask
computation reading only its chunks; the command runs as the README shows it. Needs Dask
(``pip install -e '.[dask]'``); CI's step 3 installs it and runs this file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.examples import digits_dask
from dezero_ext_nn.examples.digits_dask import Digits, train

dask = pytest.importorskip("dask")
pytest.importorskip("dask.array")


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The indices of the image chunks made, in order (Dask's threads append to it)."""
    calls: list[int] = []
    lock = threading.Lock()
    original = digits_dask.make_chunk

    def recorded(seed: int, index: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        with lock:
            calls.append(index)
        return original(seed, index, rows)

    monkeypatch.setattr(digits_dask, "make_chunk", recorded)
    return calls


def test_the_dask_digits_are_the_numpy_digits() -> None:
    lazy, eager = Digits(1000, 300), Digits(1000, 300, lazy=False)
    data: Any = lazy.data  # a Dask array where the Dataset says Array
    assert data.chunks == ((300, 300, 300, 100), (64,))
    (x, t), (ex, et) = dask.compute(*lazy[:]), eager[:]
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(t, et)
    assert ex.dtype == np.float64 and set(np.unique(et)) == set(range(10))


def test_an_epoch_makes_each_chunk_once_as_its_batches_need_it(made: list[int]) -> None:
    dataset = Digits(1200, 200)
    loader = DataLoader(dataset, 50, seed=0, block=200)
    assert made == []  # nothing made before a batch is drawn
    seen: set[int] = set()
    for _ in range(len(loader)):
        start = loader.iteration * 50
        chunks = set((loader.index[start : start + 50] // 200).tolist())
        made.clear()
        x, t = next(loader)
        assert type(x) is np.ndarray and type(t) is np.ndarray
        assert set(made) == chunks - seen and len(made) == len(set(made))  # new ones, once
        assert len(loader._blocks) <= 2  # the blocks the batch straddles, no more
        seen |= chunks
    assert seen == set(range(6))
    np.testing.assert_array_equal(x, Digits(1200, 200, lazy=False).data[loader.index[-50:]])


def test_training_from_dask_gives_numpys_losses_to_the_bit() -> None:
    lazy = train(Digits(1200, 200), epochs=3, batch_size=64)
    eager = train(Digits(1200, 200, lazy=False), epochs=3, batch_size=64)
    assert len(lazy.losses) == 3 * 19
    assert lazy.losses == eager.losses  # float64, the same batches: the same numbers
    first, *_, last = lazy.epoch_means()
    assert last < 0.8 * first  # and it learns
    for (_, a), (_, b) in zip(lazy.model.namedparams(), eager.model.namedparams(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_the_command_runs_as_the_readme_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert digits_dask.main(["--examples", "600", "--chunk", "100", "--batch-size", "50"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1: mean loss" in out
    assert "12 batches from a Dask array in 6 chunks" in out
    assert "peak resident memory" in out


def test_the_module_runs_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--examples", "400", "--chunk", "100", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "dezero_ext_nn.examples.digits_dask", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        timeout=300,
    )
    from_dask = result.stdout.splitlines()[0]
    assert digits_dask.main([*args, "--numpy"]) == 0
    from_numpy = capsys.readouterr().out.splitlines()[0]
    assert "from a Dask array in 4 chunks" in from_dask and "from NumPy arrays" in from_numpy
    assert from_dask.split(": first loss")[1] == from_numpy.split(": first loss")[1]
