"""A check beyond the Jacobian (internal): the total gradient carried by tied elements."""

from __future__ import annotations

import numpy as np

from dezero_ext.testing.errors import CheckFailedError
from dezero_ext.testing.example import Example
from dezero_ext.testing.jacobian import Jacobians
from dezero_ext.testing.numerical import ArrayFunction, directional_derivative
from dezero_ext.testing.report import Entry, Failure

__all__ = ["check_tie_total"]


def check_tie_total(ex: Example, order: int, jac: Jacobians, reference: ArrayFunction) -> None:
    """Tied elements may split the gradient any way the convention says, but together they
    must carry exactly what moving all inputs at once does (that direction has no kink)."""
    __tracebackhide__ = True
    x_ref = [np.asarray(x, dtype=ex.reference) for x in ex.inputs]
    ones = [np.ones_like(x, dtype=np.float64) for x in x_ref]
    together = directional_derivative(reference, x_ref, ones, None, dtype=ex.reference)
    if bool(together.kink):
        return
    total = float(sum(float(block.sum()) for blocks in jac.analytic for block in blocks))
    numeric = float(together.central)
    size = sum(b.size for blocks in jac.analytic for b in blocks)
    allowed = ex.atol * size + ex.rtol * abs(numeric)
    if abs(total - numeric) <= allowed:
        return
    failure = Failure(
        "kink",
        order,
        ex,
        message=(
            f"tied elements: the gradients sum to {total:.6g}, but moving every input together "
            f"changes the outputs' sum at rate {numeric:.6g}"
        ),
        output_shapes=jac.output_shapes,
        worst=Entry(analytic=total, numerical=numeric, error=abs(total - numeric), allowed=allowed),
        kink_near=True,
        kink_detail=f"ties among the inputs; the op declares ties={ex.target.spec.ties!r}",
        causes=(
            "ties: the gradient is counted more than once (or lost) among tied elements; with "
            "ties='first' one element gets it all, with 'split' they share it evenly",
        ),
    )
    raise CheckFailedError(failure)
