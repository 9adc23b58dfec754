"""A progress bar for training loops: ``for x, t in nn.progress(loader, desc="epoch 1"):``.

On a terminal it is tqdm's bar (``pip install 'dezero-ext-nn[progress]'``); to anything else
(a log file, a pipe, a notebook's captured output) it writes plain lines, about ten per pass,
so a log holds no carriage returns. Without tqdm a terminal gets the plain lines too, after a
note saying how to install it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator
from typing import Generic, TextIO, TypeVar

__all__ = ["INSTALL", "Progress", "progress"]

T = TypeVar("T")

INSTALL = "pip install 'dezero-ext-nn[progress]'"


class Progress(Generic[T]):
    """Iterates over ``iterable`` showing progress; ``set_postfix(loss=...)`` adds values."""

    def __init__(
        self, iterable: Iterable[T], total: int | None, desc: str, file: TextIO | None
    ) -> None:
        self.iterable = iterable
        self.total = total if total is not None else _length(iterable)
        self.desc = desc
        self.file = file
        self.postfix = ""
        self._bar: object | None = None

    def set_postfix(self, **values: object) -> None:
        """Show ``name=value`` pairs after the count (floats with 4 significant digits)."""
        self.postfix = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
        )
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix)  # type: ignore[attr-defined]  # tqdm's

    def __iter__(self) -> Iterator[T]:
        stream = self.file if self.file is not None else sys.stderr
        if stream.isatty():
            try:
                tqdm = importlib.import_module("tqdm")
            except ImportError:
                stream.write(f"(no progress bar: tqdm is not installed; {INSTALL})\n")
            else:
                with tqdm.tqdm(self.iterable, total=self.total, desc=self.desc, file=stream) as bar:
                    self._bar = bar
                    yield from bar
                self._bar = None
                return
        yield from self._lines(stream)

    def _lines(self, stream: TextIO) -> Iterator[T]:
        total = self.total
        every = max(1, total // 10) if total else 1
        for done, item in enumerate(self.iterable, 1):
            yield item
            if done % every == 0 or done == total:
                count = f"{done}/{total}" if total else str(done)
                tail = f"  {self.postfix}" if self.postfix else ""
                stream.write(f"{self.desc + ' ' if self.desc else ''}{count}{tail}\n")
                stream.flush()


def _length(iterable: Iterable[object]) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]  # any sized iterable
    except TypeError:
        return None


def progress(
    iterable: Iterable[T], total: int | None = None, desc: str = "", file: TextIO | None = None
) -> Progress[T]:
    """``iterable`` with progress shown on ``file`` (standard error by default): tqdm's bar
    on a terminal, plain lines elsewhere. ``total`` defaults to ``len(iterable)``."""
    return Progress(iterable, total, desc, file)
