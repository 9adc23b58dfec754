"""dezero_ext_nn.functions, DeZero's ``F``: the names a DeZero program calls, and accuracy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Variable

# Every public function of DeZero 0.0.13's dezero.functions and dezero.functions_conv that
# takes Variables (batch_nrom, a typo there, is batch_norm here).
DEZERO_F = """
sin cos tanh exp log reshape transpose get_item expand_dims flatten sum sum_to broadcast_to
average matmul linear linear_simple sigmoid sigmoid_simple relu softmax softmax_simple
log_softmax leaky_relu mean_squared_error mean_squared_error_simple softmax_cross_entropy
softmax_cross_entropy_simple sigmoid_cross_entropy binary_cross_entropy accuracy dropout
batch_norm embed_id max min clip conv2d conv2d_simple deconv2d pooling pooling_simple
average_pooling im2col col2im add sub mul div neg pow
""".split()  # noqa: SIM905 - the list as DeZero's modules give it, easier to check by eye


def test_every_deZero_function_name_is_here() -> None:
    missing = [name for name in DEZERO_F if not callable(getattr(F, name, None))]
    assert missing == []
    assert set(DEZERO_F) <= set(F.__all__)


def test_accuracy_is_the_fraction_of_argmax_hits_and_not_differentiable() -> None:
    y = Variable(
        np.array(
            [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=np.float32
        )
    )
    acc = F.accuracy(y, np.array([1, 0, 0, 0]))
    assert float(acc.data) == 0.75 and acc.dtype == np.float32
    assert not acc.requires_grad and acc.creator is None
    assert float(F.accuracy(y.data, [1, 0, 2, 0]).data) == 1.0


def test_accuracy_errors_name_the_problem() -> None:
    y = np.eye(3)
    with pytest.raises(ValueError, match="one-hot labels"):
        F.accuracy(y, np.eye(3))
    with pytest.raises(TypeError, match="integer class labels"):
        F.accuracy(y, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"must be scores of shape \(N, C, ...\)"):
        F.accuracy(np.ones(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="gives 3 predictions but t"):
        F.accuracy(y, np.array([0, 1]))


def test_plugin_discovery_loads_the_ops_not_the_training_toolkit() -> None:
    code = (
        "import sys, dezero_ext\n"
        "dezero_ext.get_registry().get('linear')\n"
        "loaded = [m for m in sys.modules if m.startswith('dezero_ext_nn.')]\n"
        "assert 'dezero_ext_nn.optimizers' not in loaded, loaded\n"
        "import dezero_ext_nn as dezero\n"
        "assert dezero.DataLoader is dezero.dataloaders.DataLoader\n"
        "assert dezero.datasets.Spiral.__name__ == 'Spiral'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
