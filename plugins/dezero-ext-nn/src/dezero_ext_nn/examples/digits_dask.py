"""Train the digits MLP from a Dask array that never exists whole, and get NumPy's loss curve.

    python -m dezero_ext_nn.examples.digits_dask [--examples 200000] [--chunk 2048]
        [--epochs 1] [--batch-size 256] [--hidden 100] [--lr 1.0] [--numpy] [--quiet]

The data are 8x8 digit images (64 features, 10 classes, the size of scikit-learn's
``load_digits``), made from ten glyphs, each example shifted by up to a pixel, scaled and
noised, so that any number of them can be made without storing them (scikit-learn's 1,797
digits are no dependency here). ``--examples`` rows form a Dask array in chunks of ``--chunk``
rows, each chunk made by a task only when a batch needs it: the array is never in memory,
only the one or two chunks the current batch reads. The ``DataLoader`` shuffles blocks of one
chunk (``block=``) and reads a block in one Dask computation when a batch first needs it, so an
epoch makes each chunk once.

``--numpy`` trains on the same examples made into NumPy arrays first: the losses are the same
to the bit (float64), since the batches are. The last line gives the peak resident memory of
the process (``ru_maxrss``) next to the array's size. Needs Dask (``pip install
'dask[array]'``); without it, it says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Array
from dezero_ext_nn import optimizers
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import Dataset
from dezero_ext_nn.models import MLP

__all__ = ["GLYPHS", "Digits", "History", "chunk_labels", "main", "make_chunk", "train"]

_ROWS = """
.####... ...#.... .####... .####... ....#... ######.. ..###... ######..  .####... .####...
#....#.. ..##.... #....#.. #....#.. ...##... #....... .#...... .....#..  #....#.. #....#..
#...##.. .#.#.... .....#.. .....#.. ..#.#... #####... #....... ....#...  #....#.. #....#..
#..#.#.. ...#.... ....#... ..###... .#..#... .....#.. #####... ...#....  .####... .#####..
#.#..#.. ...#.... ...#.... .....#.. ######.. .....#.. #....#.. ..#.....  #....#.. .....#..
##...#.. ...#.... ..#..... #....#.. ....#... #....#.. #....#.. ..#.....  #....#.. ....#...
.####... .#####.. ######.. .####... ....#... .####... .####... ..#.....  .####... .###....
........ ........ ........ ........ ........ ........ ........ ........  ........ ........
"""
GLYPHS: Array = np.array(
    [[[c == "#" for c in row.split()[d]] for row in _ROWS.strip().splitlines()] for d in range(10)],
    dtype=np.float64,
)
"""The ten digits as 8x8 images of 0 and 1 (``GLYPHS[d]`` is digit ``d``)."""

FEATURES, CLASSES = 64, 10
DASK = "pip install 'dask[array]'"


def chunk_labels(seed: int, index: int, rows: int) -> Array:
    """The labels (rows,) int64 of chunk ``index`` of the digits of ``seed``."""
    return np.random.default_rng((seed, index, 0)).integers(0, CLASSES, rows)


def make_chunk(seed: int, index: int, rows: int) -> tuple[Array, Array]:
    """Chunk ``index`` of the digits of ``seed``: ``rows`` images (rows, 64) float64 in about
    [0, 1] and their labels (rows,) int64, the same for the same arguments on every machine."""
    labels = chunk_labels(seed, index, rows)
    rng = np.random.default_rng((seed, index, 1))
    shift = rng.integers(-1, 2, (rows, 2))  # up to a pixel each way, through a padded glyph
    padded = np.pad(GLYPHS, ((0, 0), (1, 1), (1, 1)))
    ys = (1 - shift[:, :1]) + np.arange(8)
    xs = (1 - shift[:, 1:]) + np.arange(8)
    images = padded[labels[:, None, None], ys[:, :, None], xs[:, None, :]]
    images = images * rng.uniform(0.6, 1.0, (rows, 1, 1)) + rng.normal(0.0, 0.25, (rows, 8, 8))
    return images.reshape(rows, FEATURES), labels


def _block(seed: int, what: str, block_info: dict[Any, Any] | None = None) -> Array:
    """One Dask block of the digits: ``what`` is "data" or "label" (``map_blocks`` passes
    ``block_info``: the block's index and rows)."""
    assert block_info is not None
    index, rows = block_info[None]["chunk-location"][0], block_info[None]["chunk-shape"][0]
    if what == "label":
        return chunk_labels(seed, index, rows)  # without making the images
    return make_chunk(seed, index, rows)[0]


class Digits(Dataset[Array]):
    """``examples`` digits (``make_chunk``) in chunks of ``chunk`` rows: Dask arrays made
    chunk by chunk as they are read (``lazy``), or NumPy arrays of the same numbers."""

    def __init__(self, examples: int, chunk: int, seed: int = 0, lazy: bool = True) -> None:
        self.examples, self.chunk, self.seed, self.lazy = examples, chunk, seed, lazy
        super().__init__()

    def sizes(self) -> list[int]:
        """The rows of each chunk."""
        full, rest = divmod(self.examples, self.chunk)
        return [self.chunk] * full + ([rest] if rest else [])

    def prepare(self) -> None:
        sizes = self.sizes()
        if not self.lazy:
            parts = [make_chunk(self.seed, i, rows) for i, rows in enumerate(sizes)]
            self.data = np.concatenate([x for x, _ in parts])
            self.label = np.concatenate([t for _, t in parts])
            return
        da: Any = importlib.import_module("dask.array")
        # map_blocks, not one task per chunk concatenated: a batch's graph is culled to its
        # chunks in constant time, however many chunks the array has
        self.data = da.map_blocks(
            _block,
            self.seed,
            "data",
            chunks=(tuple(sizes), (FEATURES,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
        )
        self.label = da.map_blocks(
            _block,
            self.seed,
            "label",
            chunks=(tuple(sizes),),
            dtype=np.int64,
            meta=np.empty(0, np.int64),
        )

    @property
    def nbytes(self) -> int:
        """The bytes of ``data`` and ``label`` together (for Dask: were they computed)."""
        return int(self.examples * (FEATURES + 1) * 8)


@dataclass
class History:
    """The trained model and the loss of every batch, in order."""

    model: MLP
    losses: list[float] = field(default_factory=list)
    batches_per_epoch: int = 0

    def epoch_means(self) -> list[float]:
        """The mean batch loss of each epoch."""
        n = self.batches_per_epoch
        return [float(np.mean(self.losses[i : i + n])) for i in range(0, len(self.losses), n)]


def train(
    dataset: Digits,
    epochs: int = 1,
    batch_size: int = 256,
    hidden: int = 100,
    lr: float = 1.0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> History:
    """Train ``MLP((hidden, 10))`` in float64 with SGD on ``dataset``, batches drawn by a
    ``DataLoader`` shuffling blocks of one chunk; ``seed`` fixes the weights and the order.
    ``log`` (if given) gets a line per epoch."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        model = MLP((hidden, CLASSES), dtype=np.float64)
        model(np.zeros((1, FEATURES)))  # the weights now, from the seeded state
    finally:
        np.random.set_state(saved)
    optimizer = optimizers.SGD(lr).setup(model)
    loader = DataLoader(dataset, batch_size, seed=seed, block=dataset.chunk)
    history = History(model, batches_per_epoch=len(loader))
    for epoch in range(epochs):
        for x, t in loader:
            loss = F.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            history.losses.append(float(loss.data))
        if log is not None:
            log(f"epoch {epoch + 1}: mean loss {history.epoch_means()[-1]:.6f}")
    return history


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dezero_ext_nn.examples.digits_dask",
        description="Train the digits MLP from a Dask array made chunk by chunk as batches "
        "are drawn (or, with --numpy, from NumPy arrays of the same examples).",
    )
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=2048, help="rows per Dask chunk")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1.0, help="SGD's learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--numpy", action="store_true", help="NumPy arrays made first")
    parser.add_argument("--quiet", action="store_true", help="no line per epoch")
    args = parser.parse_args(argv)
    try:
        dataset = Digits(args.examples, args.chunk, args.seed, lazy=not args.numpy)
    except ImportError as exc:
        print(f"digits_dask: needs Dask ({exc}): {DASK}", file=sys.stderr)
        return 2
    log = None if args.quiet else print
    history = train(dataset, args.epochs, args.batch_size, args.hidden, args.lr, args.seed, log)
    source = "NumPy arrays" if args.numpy else f"a Dask array in {len(dataset.sizes())} chunks"
    print(
        f"MLP (64, {args.hidden}, 10), {len(history.losses)} batches from {source}: first loss "
        f"{history.losses[0]:.6f}, last epoch's mean {history.epoch_means()[-1]:.6f}"
    )
    print(
        f"peak resident memory {_peak_mib():.0f} MiB; the examples {dataset.nbytes / 2**20:.0f} "
        f"MiB, a chunk {args.chunk * (FEATURES + 1) * 8 / 2**20:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
