"""Optional imports of the peer frameworks, and of our own optional plugins.

Peers are never dependencies of the project: each loader raises `UnavailableError` when the
package is missing, and the benchmark skips that implementation.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from benchmarks.harness import UnavailableError

PEERS = ("dezero", "autograd", "torch")

_disabled: set[str] = set()


def disable(*names: str) -> None:
    """Skip these implementations (e.g. `--no-peers`) without importing them."""
    _disabled.update(names)


def is_disabled(name: str) -> bool:
    return name in _disabled


def load(module: str, label: str | None = None) -> ModuleType:
    """Import `module`, or raise `UnavailableError` naming what to install."""
    name = label or module.split(".")[0]
    if name in _disabled:
        raise UnavailableError("disabled on the command line")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UnavailableError(f"{module} is not importable ({exc})") from None


def dezero() -> ModuleType:
    """DeZero 0.0.13 on NumPy 2: it imports matplotlib and uses the removed `np.int`."""
    if "dezero" in _disabled:
        raise UnavailableError("disabled on the command line")
    load("matplotlib", label="dezero")
    if not hasattr(np, "int"):
        np.int = int  # type: ignore[attr-defined]  # alias removed in NumPy 1.24; dezero uses it
    return load("dezero")


def torch() -> ModuleType:
    return load("torch")
