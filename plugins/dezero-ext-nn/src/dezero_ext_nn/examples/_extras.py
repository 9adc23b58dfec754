"""The optional extras of the examples: a tqdm progress bar and matplotlib, each used when
installed and skipped, with a note saying how to get it, when not."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Protocol

__all__ = ["INSTALL", "Progress", "load_pyplot", "progress"]

INSTALL = "pip install 'dezero-ext-nn[examples]'"


class Progress(Protocol):
    """What the examples need of a progress bar."""

    def update(self, n: int = 1) -> object: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...


class _Silent:
    """No progress shown (``--quiet``)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass


class _Lines:
    """Progress as a line of text every ``every`` steps, for when tqdm is missing."""

    def __init__(self, total: int, what: str, log: Callable[[str], None]) -> None:
        self.total, self.what, self.log = total, what, log
        self.done = 0
        self.every = max(1, total // 10)
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.done % self.every == 0 or self.done == self.total:
            self.log(f"{self.what} {self.done}/{self.total}  {self.postfix}")

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s


@contextmanager
def progress(
    total: int, what: str, enabled: bool, log: Callable[[str], None]
) -> Iterator[Progress]:
    """A tqdm bar over ``total`` steps when tqdm is installed, else a line now and then;
    nothing when not ``enabled``."""
    if not enabled:
        yield _Silent()
        return
    try:
        tqdm = importlib.import_module("tqdm")
    except ImportError:
        log(f"(no progress bar: tqdm is not installed; {INSTALL})")
        yield _Lines(total, what, log)
        return
    with tqdm.tqdm(total=total, desc=what, unit=what) as bar:
        yield bar


def load_pyplot(log: Callable[[str], None]) -> ModuleType | None:
    """matplotlib's pyplot on the non-interactive Agg backend, or None (with a note)."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        log(f"skipped the pictures: matplotlib is not installed ({INSTALL})")
        return None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
