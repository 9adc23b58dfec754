"""The forward against the declared ``reference`` (internal), on every drawn example.

The op runs in the example's dtype; the reference gets the same input values as float64
arrays. The op may be off by its dtype's rounding, amplified by how the values combine: an
output element may differ by ``rtol * |reference| + atol * scale``, where ``scale`` is the
largest magnitude among the output's reference values (a sum that cancels to near zero
carries the rounding of its largest terms), times the square root of the input elements per
output element (rounding errors of many terms add up: ``--stress`` sums 10**4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NoReturn

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.testing.errors import CheckFailedError, describe
from dezero_ext.testing.example import Example
from dezero_ext.testing.report import Entry, Failure

__all__ = ["FORWARD_TOLERANCE", "check_reference"]

FORWARD_TOLERANCE: Final[dict[str, tuple[float, float]]] = {
    "float64": (1e-9, 1e-12),
    "float32": (1e-4, 1e-6),
    "float16": (1e-2, 1e-3),
}
"""``(rtol, atol)`` per dtype of the forward against its reference: some hundred units in the
last place, room for a different order of summation, never for a wrong formula."""


def _as_outputs(value: object) -> tuple[Array, ...]:
    values = value if isinstance(value, tuple | list) else (value,)
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def check_reference(ex: Example, outputs: Sequence[Array]) -> None:
    """Compare the op's ``outputs`` on ``ex`` with its declared reference; raise
    ``CheckFailedError`` (a ``forward`` failure) on the first output that differs."""
    __tracebackhide__ = True
    reference = ex.target.spec.reference
    if reference is None or ex.composed:
        return
    x64 = [np.asarray(x, dtype=np.float64) for x in ex.inputs]
    try:
        with np.errstate(all="ignore"):
            expected = _as_outputs(reference(*x64, **ex.params))
    except Exception as exc:  # noqa: BLE001 - a broken reference is reported, not raised
        _fail(ex, outputs, f"the reference raised {describe(exc)}; fix the reference")
    if len(expected) != len(outputs):
        _fail(ex, outputs, f"the reference gives {len(expected)} outputs, the op {len(outputs)}")
    rtol, atol = FORWARD_TOLERANCE[ex.dtype]
    for k, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        if np.shape(got) != want.shape:
            message = f"output {k} has shape {np.shape(got)}, the reference {want.shape}"
            _fail(ex, outputs, message)
        _compare(ex, outputs, k, np.asarray(got, dtype=np.float64), want, rtol, atol)


def _compare(
    ex: Example, outputs: Sequence[Array], k: int, got: Array, want: Array, rtol: float, atol: float
) -> None:
    __tracebackhide__ = True
    finite = np.isfinite(want)
    scale = max(1.0, float(np.max(np.abs(want[finite]), initial=0.0)))
    # rounding errors of n terms summed into one output add up like sqrt(n) (a sum of 16389
    # float32 values is off by ~1e-5): the input elements per output element, as n
    terms = sum(np.size(x) for x in ex.inputs) / max(want.size, 1)
    scale *= math.sqrt(max(terms, 1.0))
    allowed = rtol * np.abs(np.where(finite, want, 0.0)) + atol * scale
    with np.errstate(invalid="ignore"):
        error = np.where(finite, np.abs(got - want), 0.0)
    same_special = np.isnan(got) & np.isnan(want) | (got == want)
    bad = ~same_special & (~finite | ~np.isfinite(got) | (error > allowed))
    if not bad.any():
        return
    at = tuple(
        int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, error + 1, 0))), bad.shape)
    )
    message = (
        f"output {k} at {list(at)}: the op gives {float(got[at]):.9e}, the reference "
        f"{float(want[at]):.9e} (error {float(error[at]):.3e} > allowed {float(allowed[at]):.3e}: "
        f"rtol {rtol:g}, atol {atol:g} x {scale:.3g} for {ex.dtype}); "
        f"{int(bad.sum())} of {bad.size} elements differ"
    )
    entry = Entry(
        output=k,
        output_index=at,
        analytic=float(got[at]),
        numerical=float(want[at]),
        error=float(error[at]),
        allowed=float(allowed[at]),
    )
    _fail(ex, outputs, message, entry)


def _fail(
    ex: Example, outputs: Sequence[Array], message: str, entry: Entry | None = None
) -> NoReturn:
    shapes = tuple(np.shape(y) for y in outputs)
    causes = (
        "the forward computes something other than the reference (a wrong formula, a wrong "
        "axis or a dropped term); the gradient checks cannot see it when the backward is "
        "consistent with the forward",
    )
    raise CheckFailedError(Failure("forward", 1, ex, message, shapes, entry, causes=causes))
