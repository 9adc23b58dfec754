"""Checks beyond the Jacobian (internal): the dtype ``backward`` computes in, and the total
gradient carried by tied elements."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dezero_ext.core.config import no_grad
from dezero_ext.core.variable import Array, Variable
from dezero_ext.testing.numerical import directional_derivative
from dezero_ext.testing.subject import Example, Jacobians, ReferenceFunction

__all__ = ["check_raw_dtypes", "check_tie_total"]


def check_raw_dtypes(
    ex: Example,
    ys: Sequence[Variable],
    vs: Sequence[Array],
    out_shapes: tuple[tuple[int, ...], ...],
) -> None:
    """The engine casts a gradient to its input's dtype; check what ``backward`` itself
    returns, so an op that silently computes in float64 is still named."""
    __tracebackhide__ = True
    creator = ys[0].creator if ys else None
    if (
        creator is None
        or any(y.creator is not creator for y in ys)
        or len(ys) != len(creator.outputs)
    ):
        return
    seeds = [Variable(np.asarray(v, dtype=y.dtype)) for y, v in zip(ys, vs, strict=True)]
    try:
        with no_grad():
            raw = creator.backward(*seeds)
    except Exception:  # noqa: BLE001 - the engine's own run reports backward's errors
        return
    gxs = raw if isinstance(raw, tuple) else (raw,)
    for i, (x, g) in enumerate(zip(creator.inputs, gxs, strict=False)):
        if isinstance(g, Variable) and g.dtype != x.dtype:
            raise ex.failure(
                1,
                "dtype",
                output_shapes=out_shapes,
                input=i,
                message=f"backward returns the gradient of input {i} as {g.dtype}, the input is "
                f"{x.dtype} (the engine casts it back, but the op computes in the wrong dtype)",
                causes=(
                    f"dtype: backward promoted the gradient to {g.dtype}; compute it from the "
                    "Variables it receives (a Python number stays weak, np.float64(...) does not)",
                ),
            )


def check_tie_total(
    ex: Example,
    order: int,
    jac: Jacobians,
    x_ref: list[Array],
    reference: ReferenceFunction,
    out_shapes: tuple[tuple[int, ...], ...],
) -> None:
    """Tied elements may split the gradient any way the convention says, but together they
    must carry exactly what moving all inputs at once does (that direction has no kink)."""
    __tracebackhide__ = True
    ones = [np.ones_like(x, dtype=np.float64) for x in x_ref]
    together = directional_derivative(reference, x_ref, ones, None, dtype=ex.reference)
    if bool(together.kink):
        return
    total = float(sum(float(block.sum()) for blocks in jac.analytic for block in blocks))
    numeric = float(together.central)
    allowed = ex.atol * sum(b.size for blocks in jac.analytic for b in blocks) + ex.rtol * abs(
        numeric
    )
    if abs(total - numeric) <= allowed:
        return
    raise ex.failure(
        order,
        "kink",
        output_shapes=out_shapes,
        analytic=total,
        numerical=numeric,
        error=abs(total - numeric),
        allowed=allowed,
        kink_near=True,
        message=(
            f"tied elements: the gradients sum to {total:.6g}, but moving every input together "
            f"changes the outputs' sum at rate {numeric:.6g}"
        ),
        kink_detail=f"ties among the inputs; the op declares ties={ex.subject.ties!r}",
        causes=(
            "ties: the gradient is counted more than once (or lost) among tied elements; with "
            "ties='first' one element gets it all, with 'split' they share it evenly",
        ),
    )
