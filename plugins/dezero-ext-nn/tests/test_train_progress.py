"""The training loop's progress: tqdm's bar on a terminal, plain lines anywhere else."""

from __future__ import annotations

import io

import numpy as np
import pytest

from dezero_ext_nn import progress
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import SinCurve


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_non_terminal_gets_about_ten_plain_lines_with_the_postfix() -> None:
    out = io.StringIO()
    bar = progress(range(100), desc="epoch 1", file=out)
    seen = []
    for i in bar:
        seen.append(i)
        bar.set_postfix(loss=0.123456)
    assert seen == list(range(100))
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[0] == "epoch 1 10/100  loss=0.1235"
    assert lines[-1] == "epoch 1 100/100  loss=0.1235"


def test_a_loader_gives_its_length_and_an_unsized_iterable_counts_up() -> None:
    out = io.StringIO()
    loader = DataLoader(SinCurve(seed=0), 333, seed=0)
    batches = list(progress(loader, file=out))
    assert len(batches) == len(loader) == 3
    assert out.getvalue().splitlines() == ["1/3", "2/3", "3/3"]
    out = io.StringIO()
    list(progress(iter([1, 2]), file=out))
    assert out.getvalue().splitlines() == ["1", "2"]


def test_a_terminal_gets_tqdms_bar() -> None:
    pytest.importorskip("tqdm")
    out = _Terminal()
    bar = progress(np.arange(5), desc="train", file=out)
    assert [int(i) for i in bar] == [0, 1, 2, 3, 4]
    text = out.getvalue()
    assert "\r" in text and "train" in text and "5/5" in text
