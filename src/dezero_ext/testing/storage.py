"""Where Hypothesis keeps its files when dezero_ext runs it: the example database and the
cache of source constants go to ``~/.cache/dezero-ext/hypothesis`` (``$XDG_CACHE_HOME``),
not to ``.hypothesis/`` in whatever directory the user happens to be in, unless the user says
where (``HYPOTHESIS_STORAGE_DIRECTORY``, or a database set in their settings profile)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from hypothesis import configuration
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

__all__ = ["STORAGE_ENV", "cache_home", "database", "hypothesis_home", "use_cache_home"]

STORAGE_ENV: Final = "HYPOTHESIS_STORAGE_DIRECTORY"


def cache_home() -> Path:
    """``~/.cache/dezero-ext/hypothesis`` (``$XDG_CACHE_HOME`` instead of ``~/.cache``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dezero-ext" / "hypothesis"


def _in_working_directory(path: Path) -> bool:
    return path.absolute() == (Path.cwd() / ".hypothesis").absolute()


def use_cache_home() -> Path | None:
    """Point Hypothesis's storage directory at ``cache_home()`` unless the user chose one;
    return the directory it had (``None``: not decided yet), for ``hypothesis_home``."""
    # Hypothesis keeps the directory it settled on in a module global, None until first use.
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    chosen = isinstance(previous, Path) and not _in_working_directory(previous)
    if not os.environ.get(STORAGE_ENV) and not chosen:  # (set_hypothesis_home_dir: chosen)
        configuration.set_hypothesis_home_dir(cache_home())
    return previous if isinstance(previous, Path) else None


@contextlib.contextmanager
def hypothesis_home() -> Iterator[None]:
    """Hypothesis's storage directory in ``cache_home()`` while the block runs, unless the
    user chose one; put back after (Hypothesis decides it on first use and keeps it)."""
    if os.environ.get(STORAGE_ENV):
        yield
        return
    previous = use_cache_home()
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


def database(current: ExampleDatabase | None) -> ExampleDatabase | None:
    """The example database to use instead of ``current`` (a settings profile's): Hypothesis's
    default one in ``.hypothesis/examples`` of the working directory becomes one in
    ``cache_home()``; any other (one the user set, or none) is kept."""
    if os.environ.get(STORAGE_ENV) or not isinstance(current, DirectoryBasedExampleDatabase):
        return current
    if not _in_working_directory(Path(current.path).parent):
        return current
    return DirectoryBasedExampleDatabase(cache_home() / "examples")
