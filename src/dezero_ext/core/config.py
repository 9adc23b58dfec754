"""Modes of the framework, kept in context variables.

Each thread and each asyncio task sees its own modes: switching off gradient recording in one
thread never affects another (DeZero's global ``Config`` class did).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Final, Literal

__all__ = [
    "detect_anomaly",
    "is_anomaly_detected",
    "is_grad_enabled",
    "is_training",
    "no_grad",
    "test_mode",
    "using_config",
]

ENABLE_BACKPROP: Final[ContextVar[bool]] = ContextVar("dezero_ext.enable_backprop", default=True)
TRAIN: Final[ContextVar[bool]] = ContextVar("dezero_ext.train", default=True)
DETECT_ANOMALY: Final[ContextVar[bool]] = ContextVar("dezero_ext.detect_anomaly", default=False)

ConfigName = Literal["enable_backprop", "train", "detect_anomaly"]
_VARS: Final[dict[str, ContextVar[bool]]] = {
    "enable_backprop": ENABLE_BACKPROP,
    "train": TRAIN,
    "detect_anomaly": DETECT_ANOMALY,
}


def is_grad_enabled() -> bool:
    """Whether running a ``Function`` records the graph (off inside ``no_grad()``)."""
    return ENABLE_BACKPROP.get()


def is_anomaly_detected() -> bool:
    """Whether backward passes check for nan and inf (inside ``detect_anomaly()``)."""
    return DETECT_ANOMALY.get()


def is_training() -> bool:
    """Whether ops behave as in training (off inside ``test_mode()``: dropout is the identity)."""
    return TRAIN.get()


@contextmanager
def using_config(name: ConfigName, value: bool) -> Iterator[None]:
    """Set the mode ``name`` ("enable_backprop" or "train") to ``value`` inside the block."""
    var = _VARS.get(name)
    if var is None:
        known = ", ".join(repr(n) for n in _VARS)
        raise ValueError(f"using_config: unknown mode {name!r}; known modes are {known}")
    if not isinstance(value, bool):
        raise TypeError(f"using_config: the value for {name!r} must be a bool, got {value!r}")
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def no_grad() -> AbstractContextManager[None]:
    """Run without recording the graph: outputs have no creator, memory is freed at once."""
    return using_config("enable_backprop", False)


ANOMALY_WATCHERS: Final[list[Callable[[bool], None]]] = []
"""Called with True when the first ``detect_anomaly()`` block (in any thread) opens, with
False when the last one closes: ``core/function.py`` watches forwards only meanwhile, so
that recording a call costs nothing more when no block is open."""
_OPEN: Final = [0]
_OPEN_LOCK: Final = threading.Lock()


def _watch(delta: int) -> None:
    with _OPEN_LOCK:
        _OPEN[0] += delta
        if _OPEN[0] == (1 if delta > 0 else 0):
            for watcher in ANOMALY_WATCHERS:
                watcher(delta > 0)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every function a backward pass runs through for nan and inf, and raise
    ``FloatingPointError`` at the first op that made one from finite values: its forward
    (finite inputs, a non-finite output) or its backward (finite values and output gradients,
    a non-finite input gradient). Forwards run inside the block are checked as they run, so
    an output nothing keeps is still seen. A debugging aid, as PyTorch's
    ``detect_anomaly``: it reads every array of the graph, so passes are slower."""
    _watch(1)
    try:
        with using_config("detect_anomaly", True):
            yield
    finally:
        _watch(-1)


def test_mode() -> AbstractContextManager[None]:
    """Run ops in inference mode (``train`` off): dropout is the identity, batch norm uses
    its running statistics."""
    return using_config("train", False)


# DeZero's name starts with "test": keep pytest from collecting it from a test module's imports.
test_mode.__test__ = False  # type: ignore[attr-defined]  # pytest's documented opt-out attribute
