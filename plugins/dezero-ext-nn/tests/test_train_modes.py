"""A model's mode: ``train()``/``eval()`` on any layer, beside the global ``test_mode()``.

Dropout and batch norm consult both: an eval-mode layer runs its forward in test mode, and
``test_mode()`` still turns every layer to inference whatever its own mode.
"""

from __future__ import annotations

import numpy as np

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's alias
from dezero_ext import Variable, test_mode
from dezero_ext_nn.models import Model

X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)


class Net(Model):
    def __init__(self) -> None:
        super().__init__()
        self.fc = L.Linear(4)
        self.bn = L.BatchNorm()

    def forward(self, x: Variable) -> Variable:
        return F.dropout(self.bn(self.fc(x)), 0.5)


def test_eval_turns_dropout_and_batch_norm_to_inference_for_this_model_only() -> None:
    net, other = Net(), Net()
    net(X)
    other(X)
    assert net.eval() is net
    assert not net.training and not net.fc.training and not net.bn.training
    y1, y2 = net(X), net(X)
    np.testing.assert_array_equal(y1.data, y2.data)  # no dropout mask
    running = net.bn.avg_mean.copy()
    net(X)
    np.testing.assert_array_equal(net.bn.avg_mean, running)  # running statistics kept
    a, b = other(X), other(X)  # the other model still trains: dropout draws masks
    assert not np.array_equal(a.data, b.data)


def test_train_restores_training_and_test_mode_still_wins() -> None:
    net = Net()
    net(X)
    net.eval()
    assert net.train() is net and net.training and net.bn.training
    a, b = net(X), net(X)
    assert not np.array_equal(a.data, b.data)
    with test_mode():
        c, d = net(X), net(X)
    np.testing.assert_array_equal(c.data, d.data)


def test_train_false_is_eval() -> None:
    net = Net()
    net.train(False)
    assert not net.bn.training


def test_sequential_is_a_sequence_of_its_layers() -> None:
    from dezero_ext_nn.models import Sequential

    first, second = L.Linear(4), L.Linear(2)
    seq = Sequential(first, F.relu, second)
    assert len(seq) == 3
    assert seq[0] is first and seq[-1] is second and seq[1] is F.relu
    assert list(seq) == [first, F.relu, second]
    seq.eval()
    assert not first.training and not second.training
