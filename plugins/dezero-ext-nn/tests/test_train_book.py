"""DeZero book programs run with only their imports changed.

The programs below are the book's steps/step45.py (a Model of L.Linear layers, updated by
hand) and steps/step50.py (MLP, optimizers.SGD(lr).setup(model), DataLoader,
F.softmax_cross_entropy, F.accuracy, dezero.no_grad), as in the book's repository but for
its sys.path preamble; each import line is changed, and followed by the DeZero line it
replaces.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

STEP45 = """
import numpy as np
from dezero_ext_nn import Model  # from dezero import Model
import dezero_ext_nn.layers as L  # import dezero.layers as L
import dezero_ext_nn.functions as F  # import dezero.functions as F

np.random.seed(0)
x = np.random.rand(100, 1)
y = np.sin(2 * np.pi * x) + np.random.rand(100, 1)

# Hyperparameters
lr = 0.2
max_iter = 10000
hidden_size = 10

# Model definition
class TwoLayerNet(Model):
    def __init__(self, hidden_size, out_size):
        super().__init__()
        self.l1 = L.Linear(hidden_size)
        self.l2 = L.Linear(out_size)

    def forward(self, x):
        y = F.sigmoid(self.l1(x))
        y = self.l2(y)
        return y


model = TwoLayerNet(hidden_size, 1)

for i in range(max_iter):
    y_pred = model(x)
    loss = F.mean_squared_error(y, y_pred)

    model.cleargrads()
    loss.backward()

    for p in model.params():
        p.data -= lr * p.grad.data
    if i % 1000 == 0:
        print(loss)
"""

STEP50 = """
import dezero_ext_nn as dezero  # import dezero
import dezero_ext_nn.functions as F  # import dezero.functions as F
from dezero_ext_nn import optimizers  # from dezero import optimizers
from dezero_ext_nn import DataLoader  # from dezero import DataLoader
from dezero_ext_nn.models import MLP  # from dezero.models import MLP


max_epoch = 300
batch_size = 30
hidden_size = 10
lr = 1.0

train_set = dezero.datasets.Spiral(train=True)
test_set = dezero.datasets.Spiral(train=False)
train_loader = DataLoader(train_set, batch_size)
test_loader = DataLoader(test_set, batch_size, shuffle=False)

model = MLP((hidden_size, 3))
optimizer = optimizers.SGD(lr).setup(model)

for epoch in range(max_epoch):
    sum_loss, sum_acc = 0, 0

    for x, t in train_loader:
        y = model(x)
        loss = F.softmax_cross_entropy(y, t)
        acc = F.accuracy(y, t)
        model.cleargrads()
        loss.backward()
        optimizer.update()

        sum_loss += float(loss.data) * len(t)
        sum_acc += float(acc.data) * len(t)

    print('epoch: {}'.format(epoch+1))
    print('train loss: {:.4f}, accuracy: {:.4f}'.format(
        sum_loss / len(train_set), sum_acc / len(train_set)))

    sum_loss, sum_acc = 0, 0
    with dezero.no_grad():
        for x, t in test_loader:
            y = model(x)
            loss = F.softmax_cross_entropy(y, t)
            acc = F.accuracy(y, t)
            sum_loss += float(loss.data) * len(t)
            sum_acc += float(acc.data) * len(t)

    print('test loss: {:.4f}, accuracy: {:.4f}'.format(
        sum_loss / len(test_set), sum_acc / len(test_set)))
"""

STEP28 = """
import numpy as np
from dezero_ext import Variable  # from dezero import Variable


def rosenbrock(x0, x1):
    y = 100 * (x1 - x0 ** 2) ** 2 + (1 - x0) ** 2
    return y


x0 = Variable(np.array(0.0))
x1 = Variable(np.array(2.0))
lr = 0.001
iters = 1000

for i in range(iters):
    print(x0, x1)

    y = rosenbrock(x0, x1)

    x0.cleargrad()
    x1.cleargrad()
    y.backward()

    x0.data -= lr * x0.grad
    x1.data -= lr * x1.grad
"""

STEP59 = """
import numpy as np
import dezero_ext_nn as dezero  # import dezero
from dezero_ext_nn import Model  # from dezero import Model
import dezero_ext_nn.functions as F  # import dezero.functions as F
import dezero_ext_nn.layers as L  # import dezero.layers as L

# Hyperparameters
max_epoch = 100
hidden_size = 100
bptt_length = 30

train_set = dezero.datasets.SinCurve(train=True)
seqlen = len(train_set)


class SimpleRNN(Model):
    def __init__(self, hidden_size, out_size):
        super().__init__()
        self.rnn = L.RNN(hidden_size)
        self.fc = L.Linear(out_size)

    def reset_state(self):
        self.rnn.reset_state()

    def forward(self, x):
        h = self.rnn(x)
        y = self.fc(h)
        return y


model = SimpleRNN(hidden_size, 1)
optimizer = dezero.optimizers.Adam().setup(model)

for epoch in range(max_epoch):
    model.reset_state()
    loss, count = 0, 0

    for x, t in train_set:
        x = x.reshape(1, 1)
        y = model(x)
        loss += F.mean_squared_error(y, t)
        count += 1

        if count % bptt_length == 0 or count == seqlen:
            model.cleargrads()
            loss.backward()
            loss.unchain_backward()
            optimizer.update()

    avg_loss = float(loss.data) / count
    print('| epoch %d | loss %f' % (epoch + 1, avg_loss))
"""

IMPORT = re.compile(r"^(import |from \S+ import )")


def _run(program: str) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(program, "<book program>", "exec"), {"__name__": "__book__"})
    return out.getvalue().splitlines()


def test_only_import_lines_differ_from_the_book() -> None:
    # Every changed line is an import whose comment is the book's import it replaces.
    for program in (STEP28, STEP45, STEP50, STEP59):
        for line in program.splitlines():
            if "  # " in line and IMPORT.match(line):
                _, original = line.split("  # ", 1)
                assert IMPORT.match(original) and "dezero" in original, line
            else:
                assert "dezero_ext" not in line, line


def test_step45_two_layer_net_fits_the_sine() -> None:
    state = np.random.get_state()
    try:
        printed = _run(STEP45)
    finally:
        np.random.set_state(state)
    losses = [float(re.findall(r"[-\d.]+", line)[0]) for line in printed]
    assert len(losses) == 10
    assert losses[-1] < 0.1 < losses[0]


def test_step50_spiral_mlp_trains_with_dataloader_sgd_and_accuracy() -> None:
    state = np.random.get_state()
    try:
        printed = _run(STEP50)
    finally:
        np.random.set_state(state)
    train = [line for line in printed if line.startswith("train loss")]
    test = [line for line in printed if line.startswith("test loss")]
    assert len(train) == len(test) == 300
    first_loss = float(train[0].split()[2].rstrip(","))
    last_loss, last_acc = float(train[-1].split()[2].rstrip(",")), float(train[-1].split()[4])
    assert last_loss < first_loss / 5
    assert last_acc > 0.9  # the book shows about 0.95 after 300 epochs
    assert float(test[-1].split()[4]) > 0.85


def test_step28_rosenbrock_updates_data_by_a_variable_gradient() -> None:
    printed = _run(STEP28)
    assert len(printed) == 1000
    last = [float(v) for v in re.findall(r"[-\d.]+", printed[-1])]
    # the iterate printed before the last update, moving along the valley toward (1, 1)
    np.testing.assert_allclose(last, [0.68349178, 0.4656506], rtol=1e-6)


def test_step59_rnn_fits_the_sine_with_a_broadcast_loss() -> None:
    program = STEP59.replace("max_epoch = 100", "max_epoch = 3")  # the book's 100, shortened
    state = np.random.get_state()
    try:
        with pytest.warns(UserWarning, match=r"x0 of shape \(1, 1\) and x1 of shape \(1,\)"):
            printed = _run(program)
    finally:
        np.random.set_state(state)
    losses = [float(line.split()[-1]) for line in printed]
    assert len(losses) == 3
    assert losses[-1] < losses[0]
