"""Train an LSTM to predict the next value of a noisy sine wave, the DeZero way (step 60 of
the book): truncated backpropagation through time over ``SinCurve`` with ``SeqDataLoader``.

    python -m dezero_ext_nn.examples.sin_lstm [--epochs 100] [--hidden 100] [--bptt 30]
                                              [--out DIR] [--no-plots] [--quiet]

Then it predicts the noiseless cosine one step ahead and prints the mean squared error;
with matplotlib it writes ``sin_lstm.png`` (prediction against the truth).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's alias
from dezero_ext import Array, Operand, Variable, no_grad
from dezero_ext_nn import optimizers
from dezero_ext_nn.dataloaders import SeqDataLoader
from dezero_ext_nn.datasets import SinCurve
from dezero_ext_nn.examples._extras import load_pyplot, progress
from dezero_ext_nn.models import Model

__all__ = ["BetterRNN", "History", "main", "predict", "train"]


class BetterRNN(Model):
    """An LSTM layer and a linear read-out (the book's ``BetterRNN``)."""

    def __init__(self, hidden_size: int, out_size: int) -> None:
        super().__init__()
        self.rnn = L.LSTM(hidden_size)
        self.fc = L.Linear(out_size)

    def reset_state(self) -> None:
        self.rnn.reset_state()

    def forward(self, x: Operand) -> Variable:
        return self.fc(self.rnn(x))


@dataclass
class History:
    model: BetterRNN
    losses: list[float] = field(default_factory=list)


def train(
    epochs: int = 100,
    hidden: int = 100,
    bptt_length: int = 30,
    batch_size: int = 30,
    seed: int = 0,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> History:
    """Train ``BetterRNN(hidden, 1)`` with Adam, cutting the graph every ``bptt_length``
    steps (``unchain_backward``)."""
    dataset = SinCurve(train=True)
    loader = SeqDataLoader(dataset, batch_size)
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        model = BetterRNN(hidden, 1)
        with no_grad():
            model(dataset.data[:1])  # create the weights now, from the seeded state
        model.reset_state()
    finally:
        np.random.set_state(saved)
    optimizer = optimizers.Adam().setup(model)
    history = History(model)
    seqlen = len(loader)
    with progress(epochs, "epoch", show_progress, log) as bar:
        for _ in range(epochs):
            model.reset_state()
            loss: Variable | float = 0.0
            total, count = 0.0, 0
            for x, t in loader:
                loss = loss + F.mean_squared_error(model(x), t)
                count += 1
                if count % bptt_length == 0 or count == seqlen:
                    assert isinstance(loss, Variable)
                    model.cleargrads()
                    loss.backward()
                    loss.unchain_backward()
                    optimizer.update()
                    total += float(loss.data)
                    loss = 0.0
            history.losses.append(total / count)
            bar.set_postfix_str(f"loss {history.losses[-1]:.5f}")
            bar.update()
    return history


def predict(model: BetterRNN, xs: Array) -> Array:
    """One-step-ahead predictions for the sequence ``xs`` (shape (T, 1)), from a fresh state."""
    model.reset_state()
    out = np.empty_like(xs, dtype=np.float64)
    with no_grad():
        for i, x in enumerate(xs):
            out[i] = model(x.reshape(1, 1)).data[0, 0]
    model.reset_state()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dezero_ext_nn.examples.sin_lstm",
        description="Train an LSTM on a noisy sine wave, then predict a cosine.",
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--bptt", type=int, default=30, help="truncated BPTT length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."), help="where the picture goes")
    parser.add_argument("--no-plots", action="store_true", help="do not draw the picture")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    history = train(
        args.epochs, args.hidden, args.bptt, seed=args.seed, show_progress=not args.quiet, log=log
    )
    test = SinCurve(train=False)
    predicted = predict(history.model, test.data)
    assert test.label is not None
    error = float(np.mean((predicted - test.label) ** 2))
    print(
        f"LSTM({args.hidden}), {args.epochs} epochs: final training loss "
        f"{history.losses[-1]:.5f}; one-step prediction of cos, mean squared error {error:.5f}"
    )
    if args.no_plots:
        return 0
    plt = load_pyplot(log)
    if plt is None:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sin_lstm.png"
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(len(test.label)), test.label[:, 0], label="cos (truth)")
    ax.plot(np.arange(len(predicted)), predicted[:, 0], label="LSTM prediction")
    ax.set_title(f"one step ahead, mean squared error {error:.4f}")
    ax.legend()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
