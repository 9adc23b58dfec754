"""End to end: the README's two-layer MLP (linear, sigmoid, mean_squared_error) learns."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "the nn README has one python example"
    return str(blocks[0])


def test_readme_mlp_fits_the_toy_regression() -> None:
    namespace: dict[str, object] = {}
    exec(compile(_example(), str(README), "exec"), namespace)
    losses = namespace["losses"]
    assert isinstance(losses, list)
    assert len(losses) == 2000
    assert all(np.isfinite(losses))
    # The noise (uniform on [0, 1)) alone leaves a loss of 1/12 ~ 0.083; the best straight
    # line stays near 0.31, so below 0.2 the network has fitted the curve.
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] < 0.2
    assert losses[-1] < min(losses[:100])


def test_mlp_in_float32_stays_float32() -> None:
    from dezero_ext import Variable
    from dezero_ext_nn import linear, mean_squared_error, sigmoid

    rng = np.random.default_rng(1)
    x = Variable(rng.random((8, 1), dtype=np.float32))
    y = Variable(rng.random((8, 1), dtype=np.float32))
    W1 = Variable(rng.standard_normal((1, 4)).astype(np.float32))
    W2 = Variable(rng.standard_normal((4, 1)).astype(np.float32))
    loss = mean_squared_error(linear(sigmoid(linear(x, W1)), W2), y)
    loss.backward()
    assert loss.dtype == np.float32
    assert W1.grad is not None
    assert W2.grad is not None
    assert W1.grad.dtype == W2.grad.dtype == np.float32
