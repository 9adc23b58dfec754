"""Train an MLP to classify DeZero's spiral data, the DeZero way (steps 48-50 of the book).

    python -m dezero_ext_nn.examples.spiral [--epochs 200] [--hidden 30 30] [--lr 0.01]
                                            [--out DIR] [--no-plots] [--quiet]

It prints the training accuracy (above 95% with the defaults), shows a progress bar with
tqdm, and writes ``spiral_loss.png`` (loss and accuracy per epoch) and
``spiral_boundary.png`` (the decision regions over the data) with matplotlib; each extra is
skipped, with a note, when not installed (``pip install 'dezero-ext-nn[examples]'``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import no_grad
from dezero_ext_nn import optimizers
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import Spiral
from dezero_ext_nn.examples._extras import load_pyplot, progress
from dezero_ext_nn.models import MLP

__all__ = ["History", "main", "plot", "train"]


@dataclass
class History:
    """What training produced: the model, and the mean loss and accuracy of every epoch."""

    model: MLP
    dataset: Spiral
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """The training accuracy of the final model, over the whole dataset."""
        x, t = self.dataset[:]
        with no_grad():
            return float(F.accuracy(self.model(x), t).data)


def train(
    epochs: int = 200,
    hidden: Sequence[int] = (30, 30),
    lr: float = 0.01,
    batch_size: int = 30,
    seed: int = 0,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> History:
    """Train ``MLP((*hidden, 3))`` with Adam on ``Spiral()``, ``epochs`` passes of mini-batches.

    ``seed`` fixes the initial weights (drawn, as in DeZero, from NumPy's global random state,
    which is restored afterwards) and the shuffling.
    """
    dataset = Spiral(train=True)
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        model = MLP((*hidden, 3))
        model(dataset.data[:1])  # create the weights now, from the seeded state
    finally:
        np.random.set_state(saved)
    optimizer = optimizers.Adam(alpha=lr).setup(model)
    loader = DataLoader(dataset, batch_size, seed=seed)
    history = History(model, dataset)
    with progress(epochs, "epoch", show_progress, log) as bar:
        for _ in range(epochs):
            sum_loss = sum_acc = 0.0
            for x, t in loader:
                y = model(x)
                loss = F.softmax_cross_entropy(y, t)
                acc = F.accuracy(y, t)
                model.cleargrads()
                loss.backward()
                optimizer.update()
                sum_loss += float(loss.data) * len(t)
                sum_acc += float(acc.data) * len(t)
            history.losses.append(sum_loss / len(dataset))
            history.accuracies.append(sum_acc / len(dataset))
            bar.set_postfix_str(f"loss {history.losses[-1]:.3f}, acc {history.accuracies[-1]:.3f}")
            bar.update()
    return history


def plot(history: History, out: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Write the loss curve and the decision regions into ``out``; the paths written (none
    when matplotlib is missing)."""
    plt = load_pyplot(log)
    if plt is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history.losses) + 1)
    ax.plot(epochs, history.losses, label="loss")
    ax.plot(epochs, history.accuracies, label="accuracy")
    ax.set_xlabel("epoch")
    ax.set_title("MLP on the spiral data")
    ax.legend()
    written.append(out / "spiral_loss.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    x, t = history.dataset[:]
    side = np.linspace(-1.2, 1.2, 240, dtype=np.float32)
    grid_x, grid_y = np.meshgrid(side, side)
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    with no_grad():
        regions = history.model(points).data.argmax(axis=1).reshape(grid_x.shape)
    fig, ax = plt.subplots(figsize=(5, 5))
    levels = [-0.5, 0.5, 1.5, 2.5]
    ax.contourf(grid_x, grid_y, regions, levels=levels, colors=["C0", "C1", "C2"], alpha=0.25)
    for label, marker in zip(range(3), "oxs", strict=True):
        chosen = t == label
        ax.scatter(
            x[chosen, 0],
            x[chosen, 1],
            marker=marker,
            s=20,
            color=f"C{label}",
            label=f"class {label}",
        )
    ax.set_title(f"decision regions (training accuracy {history.accuracy:.1%})")
    ax.legend(loc="lower right")
    written.append(out / "spiral_boundary.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dezero_ext_nn.examples.spiral",
        description="Train an MLP on DeZero's spiral data and draw the result.",
    )
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--hidden", type=int, nargs="+", default=[30, 30], metavar="SIZE")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's alpha")
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."), help="where the pictures go")
    parser.add_argument("--no-plots", action="store_true", help="do not draw the pictures")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    history = train(
        args.epochs,
        args.hidden,
        args.lr,
        args.batch_size,
        args.seed,
        show_progress=not args.quiet,
        log=log,
    )
    accuracy = history.accuracy
    correct = round(accuracy * len(history.dataset))
    print(
        f"MLP {tuple(args.hidden)}, {args.epochs} epochs: final loss {history.losses[-1]:.4f}, "
        f"training accuracy {accuracy:.1%} ({correct}/{len(history.dataset)})"
    )
    if args.no_plots:
        return 0
    for path in plot(history, args.out, log):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
