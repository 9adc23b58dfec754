"""Every registered op, traced and eager, on drawn examples: the same forward values and the
same gradients, bit for bit (a replay runs the same ``forward`` and ``backward_array`` on the
same arrays), on the recording call, on a replay, and on a replay with other values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dezero_ext import Array, OpDef, Operand, Variable, get_registry, no_grad, trace
from dezero_ext.testing import cases

_OPS = get_registry().ops()


def _run(
    fn: Callable[..., Variable], arrays: list[Array], weights: Array
) -> tuple[Array, list[Array | None]] | type[BaseException]:
    """``fn``'s output and its inputs' gradients for the seed ``weights``; the error's type
    when it raises."""
    xs = [Variable(a.copy()) for a in arrays]
    try:
        y = fn(*xs)
        y.grad = Variable(weights)
        y.backward()
    except Exception as exc:  # noqa: BLE001 - traced must raise the same
        return type(exc)
    return y.data.copy(), [None if x.grad is None else x.grad.data.copy() for x in xs]


def _same(got: object, want: object) -> None:
    if isinstance(want, type):
        assert got is want
        return
    assert isinstance(got, tuple) and isinstance(want, tuple)
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1], want[1], strict=True):
        if w is None:
            assert g is None
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", sorted(_OPS))
def test_traced_and_eager_agree(name: str) -> None:
    op: OpDef = _OPS[name]
    compared: list[int] = []

    @settings(
        max_examples=8, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(cases(op, "float64"))
        floating = [i for i, a in enumerate(case.inputs) if np.asarray(a).dtype.kind == "f"]
        fixed = list(case.inputs)

        def first_output(*xs: Variable) -> Variable:
            inputs: list[Operand] = list(fixed)
            for i, x in zip(floating, xs, strict=True):
                inputs[i] = x
            return op.outputs(*inputs, **case.params)[0]

        arrays = [np.asarray(case.inputs[i]) for i in floating]
        with no_grad():
            shape = first_output(*[Variable(a) for a in arrays]).shape
        weights = np.random.default_rng(0).normal(size=shape)
        want = _run(first_output, arrays, weights)
        if not _deterministic(first_output, arrays, weights, want):
            return  # an op drawing random numbers (dropout): its draws differ call to call
        traced = trace(first_output)
        _same(_run(traced, arrays, weights), want)  # records, then replays
        _same(_run(traced, arrays, weights), want)  # replays
        if op.sample is None:  # other values, same shapes: the elements in reverse order
            other = [a.ravel()[::-1].reshape(a.shape).copy() for a in arrays]
            _same(_run(traced, other, weights), _run(first_output, other, weights))
        compared.append(1)

    check()
    if name != "dropout":
        assert compared, f"{name}: no example compared"


def _deterministic(
    fn: Callable[..., Variable], arrays: list[Array], weights: Array, first: object
) -> bool:
    again = _run(fn, arrays, weights)
    try:
        _same(again, first)
    except AssertionError:
        return False
    return True
