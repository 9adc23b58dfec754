"""``CheckFailedError``: how the pass/fail path reports a failure (internal), with the ``Evidence``
the diagnosis layer explains it from. ``check_gradients`` turns it into a
``GradientCheckError``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dezero_ext.core.variable import Array
from dezero_ext.testing.jacobian import Jacobians
from dezero_ext.testing.numerical import ArrayFunction
from dezero_ext.testing.report import Failure

__all__ = ["CheckFailedError", "Evidence", "describe"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the pass/fail path saw when it failed: the Jacobians it compared (and how far
    beyond the allowed error the worst entry was), or the exception ``backward`` raised; and,
    for the diagnosis to gather more, the ``reference`` function those Jacobians
    differentiated and ``elsewhere``: the same check's Jacobians at other inputs (None where
    the target raises there)."""

    jacobians: Jacobians | None = None
    exception: BaseException | None = None
    worst_ratio: float = 0.0
    reference: ArrayFunction | None = None
    elsewhere: Callable[[Sequence[Array]], Jacobians | None] | None = None


class CheckFailedError(Exception):
    """A failed check: the ``failure`` (not yet explained) and its ``evidence``."""

    def __init__(self, failure: Failure, evidence: Evidence | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.evidence = evidence or Evidence()


def describe(exc: BaseException) -> str:
    """``Type: message (note)``, the one way the checker names an exception; a one-line note
    (PEP 678) says where it was raised (an adapter adds one for a framework's exception)."""
    notes = [n for n in getattr(exc, "__notes__", ()) if isinstance(n, str) and "\n" not in n]
    return f"{type(exc).__name__}: {exc}" + "".join(f" ({note})" for note in notes)
