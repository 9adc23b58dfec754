"""The traced check of an op on one example (``dezero-ext check --traced``,
``CheckOptions(traced=True)``): ``dezero_ext.trace`` of the op computes what the op computes.

On the example's inputs, the op is called eagerly and through ``trace``: on the recording
call, on a replay, and on a replay with other values of the same shapes (the elements in
reverse order). Each time the output and every input's gradient (for a random output
gradient) must be those of the eager call, bit for bit: a replay runs the op's own
``forward`` (or its ``forward_scalar`` on 0-d values) and ``backward_array`` on the same
values, so any difference is a bug (a ``forward_scalar`` that computes otherwise than
``forward``, state a replay does not restore, a guard that missed a change). An op that
draws random numbers in ``forward`` (dropout: two eager calls differ) is skipped.

``runner.py`` runs it per drawn example after the gradient checks: a failure is a
``TracedCheckError`` (a ``ClaimError``: the op's check is a FAIL with this report).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dezero_ext.core.tracing import trace
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import OpDef
from dezero_ext.testing.claims import ClaimError

__all__ = ["TracedCheckError", "check_traced"]

Run = tuple[Array, list[Array | None]] | str
"""The output and the inputs' gradients of one call, or the error it raised."""


class TracedCheckError(ClaimError):
    """The traced op computed otherwise than the op; the message is the report."""


def check_traced(opdef: OpDef, inputs: Sequence[Array], params: Mapping[str, object]) -> bool:
    """Raise ``TracedCheckError`` when ``trace`` of ``opdef`` (its first output, as a
    function of its floating-point inputs) differs from ``opdef`` on these inputs; False
    when nothing was compared (no floating input, the op refuses the example, or its
    calls differ among themselves)."""
    floating = [i for i, a in enumerate(inputs) if np.asarray(a).dtype.kind == "f"]
    if not floating:
        return False

    def first_output(*xs: Variable) -> Variable:
        args: list[Operand] = list(inputs)
        for i, x in zip(floating, xs, strict=True):
            args[i] = x
        return opdef.outputs(*args, **params)[0]

    arrays = [np.array(inputs[i]) for i in floating]
    want = _run(first_output, arrays, None)
    if isinstance(want, str):
        return False  # the op refuses the example eagerly: nothing to compare
    weights = np.random.default_rng(0).normal(size=want[0].shape).astype(want[0].dtype)
    want = _run(first_output, arrays, weights)
    if _differs(_run(first_output, arrays, weights), want) is not None:
        return False  # random draws in forward (dropout): calls differ among themselves
    traced = trace(first_output)
    other = [a.ravel()[::-1].reshape(a.shape).copy() for a in arrays]
    calls = (
        ("the recording call", arrays, want),
        ("a replay", arrays, want),
        ("a replay with other values (the elements reversed)", other, None),
    )
    for what, values, expected in calls:
        if expected is None:
            expected = _run(first_output, values, weights)
        difference = _differs(_run(traced, values, weights), expected)
        if difference is not None:
            raise TracedCheckError(
                f"{opdef.name}: traced and eager differ on {what}, params {dict(params)!r}, "
                f"inputs of shapes {[a.shape for a in values]} and dtypes "
                f"{[str(a.dtype) for a in values]}: {difference}. A replay runs the op's "
                "forward (forward_scalar on 0-d values) and backward_array: check that "
                "forward_scalar computes what forward does, and that forward keeps no state "
                "backward reads beyond what the Function's call sets"
            )
    return True


def _run(fn: Callable[..., Variable], arrays: list[Array], weights: Array | None) -> Run:
    xs = [Variable(a.copy()) for a in arrays]
    try:
        y = fn(*xs)
        if weights is not None:
            y.grad = Variable(weights)
            y.backward()
    except Exception as exc:  # noqa: BLE001 - traced must raise the same
        return type(exc).__name__
    grads = [None if x.grad is None else x.grad.data.copy() for x in xs]
    return y.data.copy(), grads


def _differs(got: Run, want: Run) -> str | None:
    """What differs between two runs, or None."""
    if isinstance(want, str) or isinstance(got, str):
        return None if got == want else f"eager gave {_name(want)}, traced {_name(got)}"
    names = ["the output"] + [f"input {i}'s gradient" for i in range(len(want[1]))]
    for name, g, w in zip(names, [got[0], *got[1]], [want[0], *want[1]], strict=True):
        if w is None or g is None:
            if (w is None) != (g is None):
                return f"{name}: eager {_name(w)}, traced {_name(g)}"
            continue
        if g.dtype != w.dtype or g.shape != w.shape:
            return f"{name}: eager {w.dtype} {w.shape}, traced {g.dtype} {g.shape}"
        if not np.array_equal(g, w, equal_nan=True):
            error = float(np.max(np.abs(g.astype(np.float64) - w)))
            return f"{name}: largest difference {error:.3g} (bit for bit expected)"
    return None


def _name(run: object) -> str:
    if run is None:
        return "no gradient"
    return f"error {run}" if isinstance(run, str) else "a value"
