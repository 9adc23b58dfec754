"""Train an MLP on MNIST, the book's steps 51-53 with the toolkit's additions: a progress bar
(``nn.progress``), a learning-rate schedule, ``model.train()``/``model.eval()``.

    python -m dezero_ext_nn.examples.mnist [--epochs 5] [--hidden 1000] [--lr 0.001]
                                           [--batch-size 100] [--quiet]

MNIST's four files are read from ``$DEZERO_EXT_DATA/mnist/`` (default ``~/.dezero_ext``),
downloaded when the network answers; offline, it says which files to put where and exits 2.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

import dezero_ext_nn as nn
import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import no_grad
from dezero_ext_nn import optimizers, schedules
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import MNIST
from dezero_ext_nn.files import DataFileMissingError
from dezero_ext_nn.models import MLP

__all__ = ["History", "main", "train"]


@dataclass
class History:
    """The trained model, and per epoch the mean training loss and the test accuracy."""

    model: MLP
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)


def train(
    epochs: int = 5,
    hidden: int = 1000,
    lr: float = 0.001,
    batch_size: int = 100,
    seed: int = 0,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> History:
    """``MLP((hidden, 10))`` with ReLU, Adam at ``lr`` decayed by a cosine over the epochs."""
    train_set, test_set = MNIST(train=True), MNIST(train=False)
    saved = np.random.get_state()
    np.random.seed(seed)  # the initial weights, drawn at the first call as in DeZero
    try:
        model = MLP((hidden, 10), activation=F.relu)
        model(train_set[:1][0])
    finally:
        np.random.set_state(saved)
    optimizer = optimizers.Adam(alpha=lr).setup(model)
    scheduler = schedules.CosineDecay(epochs).attach(optimizer)
    train_loader = DataLoader(train_set, batch_size, seed=seed)
    test_loader = DataLoader(test_set, batch_size, shuffle=False)
    history = History(model)
    for epoch in range(1, epochs + 1):
        model.train()
        sum_loss = 0.0
        shown = None if show_progress else io.StringIO()  # quiet: the lines go nowhere
        batches = nn.progress(train_loader, desc=f"epoch {epoch}/{epochs}", file=shown)
        for x, t in batches:
            loss = F.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            sum_loss += float(loss.data) * len(t)
            batches.set_postfix(loss=float(loss.data))
        scheduler.step()
        model.eval()
        hits = 0.0
        with no_grad():
            for x, t in test_loader:
                hits += float(F.accuracy(model(x), t).data) * len(t)
        history.losses.append(sum_loss / len(train_set))
        history.accuracies.append(hits / len(test_set))
        log(
            f"epoch {epoch}: train loss {history.losses[-1]:.4f}, "
            f"test accuracy {history.accuracies[-1]:.4f}"
        )
    return history


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dezero_ext_nn.examples.mnist",
        description="Train an MLP on MNIST and print the test accuracy per epoch.",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.001, help="Adam's alpha, at the start")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        train(args.epochs, args.hidden, args.lr, args.batch_size, args.seed, not args.quiet)
    except DataFileMissingError as exc:
        print(f"MNIST is not here and could not be downloaded:\n{exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
