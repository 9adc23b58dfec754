"""Random programs, traced and eager: the same values and gradients, call after call with new
argument values and an outside Variable (a parameter) updated between calls. Values are equal
bit for bit; a gradient summed from several uses of a value may differ in its last bits (the
tape sums the terms in reverse recording order, the engine by generation).

Single ops are compared in ``tests/ops/test_trace_every_op.py``; here the tape's plumbing is
under test: values used several times (gradients summed), views, reductions, broadcasting,
constants, and a parameter the function reads from outside."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dezero_ext import Array, Variable, trace
from dezero_ext.ops import exp
from dezero_ext_math import cos, sin, tanh

Step = tuple[str, int, int]
_UNARY: dict[str, Callable[[Variable], Variable]] = {
    "tanh": tanh,
    "sin": sin,
    "cos": cos,
    "square": lambda v: v * v,
    "exp_small": lambda v: exp(v * 0.1),
    "transpose_twice": lambda v: v.T.T,
    "reshape": lambda v: v.reshape(4, 3).reshape(3, 4),
    "row_mean": lambda v: (v.sum(axis=1, keepdims=True) / 4.0) + v * 0.0,
    "slice_pad": lambda v: v[:, :2].reshape(3, 2).sum(axis=1, keepdims=True) * v,
    "const": lambda v: v * np.linspace(-1.0, 1.0, 4),
}
_BINARY: dict[str, Callable[[Variable, Variable], Variable]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_safe": lambda a, b: a / (b * b + 1.0),
}
_NAMES = sorted(_UNARY) + sorted(_BINARY)


def _program(steps: list[Step]) -> Callable[[Variable, Variable, Variable], Variable]:
    def run(x: Variable, y: Variable, w: Variable) -> Variable:
        values = [x, y, w]
        for name, i, j in steps:
            a, b = values[i % len(values)], values[j % len(values)]
            values.append(_UNARY[name](a) if name in _UNARY else _BINARY[name](a, b))
        return (values[-1] * values[-2]).sum()

    return run


def _grads(
    fn: Callable[[Variable, Variable], Variable], a: Array, b: Array, w: Variable
) -> list[Array | None]:
    """The output and the gradients of x, y and w (None for one the program does not use)."""
    x, y = Variable(a.copy()), Variable(b.copy())
    w.cleargrad()
    z = fn(x, y)
    z.backward()
    grads = [None if v.grad is None else v.grad.data.copy() for v in (x, y, w)]
    return [z.data.copy(), *grads]


@settings(max_examples=150)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(_NAMES), st.integers(0, 20), st.integers(0, 20)),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**16),
)
def test_a_traced_program_is_the_eager_program(steps: list[Step], seed: int) -> None:
    program = _program(steps)
    rng = np.random.default_rng(seed)
    w_eager = Variable(rng.uniform(-1, 1, (3, 4)))
    w_traced = Variable(w_eager.data.copy())
    traced = trace(lambda x, y: program(x, y, w_traced))

    def eager(x: Variable, y: Variable) -> Variable:
        return program(x, y, w_eager)

    for _ in range(3):
        a, b = rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (3, 4))
        got, want = _grads(traced, a, b, w_traced), _grads(eager, a, b, w_eager)
        np.testing.assert_array_equal(got[0], want[0])  # the value: the same computations
        for g, e in zip(got, want, strict=True):
            assert (g is None) == (e is None)
            if g is not None and e is not None:
                np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)
        # the parameter updated between calls, as an optimizer does: read anew by the replay
        # (both by the eager gradient, so that the values stay equal bit for bit)
        step = 0.1 * (w_eager.data if w_eager.grad is None else w_eager.grad.data)
        for w in (w_eager, w_traced):
            w.data = w.data - step
    assert traced.traces == 1
