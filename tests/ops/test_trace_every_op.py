"""Every registered op, traced and eager, on drawn examples in each of its dtypes: the same
forward values and the same gradients, bit for bit (a replay runs the same ``forward``, or
``forward_scalar`` on 0-d values, and ``backward_array`` on the same values), on the
recording call, on a replay, and on a replay with other values. This is the check
``dezero-ext check --traced`` runs (``dezero_ext.testing.tracecheck``), here in CI."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dezero_ext import OpDef, get_registry
from dezero_ext.testing import cases
from dezero_ext.testing.tracecheck import check_traced

_OPS = get_registry().ops()


@pytest.mark.parametrize("name", sorted(_OPS))
def test_traced_and_eager_agree(name: str) -> None:
    op: OpDef = _OPS[name]
    compared: list[bool] = []

    @settings(
        max_examples=8, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        dtype = data.draw(st.sampled_from(op.dtypes))
        case = data.draw(cases(op, dtype))
        compared.append(check_traced(op, [np.asarray(a) for a in case.inputs], case.params))

    check()
    if name != "dropout":  # its draws differ call to call: nothing to compare
        assert any(compared), f"{name}: no example compared"


def test_0d_values_between_scalar_ops_are_checked() -> None:
    """Every op with ``forward_scalar`` on 0-d values, in every dtype, at values and
    constants where NumPy's scalar and array paths could round apart (drawn shapes may miss
    0-d; ``x ** 3`` on a scalar differed from ``x ** 3`` on a 0-d array)."""
    values = [0.3, 0.8, 1.45]  # where a scalar's x ** 1.5 or x ** 3 rounds otherwise
    # and values drawn once: an inlined gradient (an op's scalar_code) written in another
    # order, as a * (b / c) for a * b / c, rounds apart on about half of them
    values += [float(v) for v in np.random.default_rng(22).uniform(0.2, 2.0, size=3)]
    exponents = [2, 3, -1, 0.5, 1.5, -2.5, 0, 1]  # pow's own sampler's
    scalar_ops = [name for name, op in _OPS.items() if op.function.forward_scalar is not None]
    assert {"exp", "square", "pow", "mul_scalar", "add", "sin", "tanh"} <= set(scalar_ops)
    for name in scalar_ops:
        op = _OPS[name]
        takes_c = "c" in inspect.signature(op.function).parameters  # x ** c, x * c, ...
        for dtype in op.dtypes:
            constants = exponents if name == "pow" else [2, -2.5] if takes_c else [None]
            for value, c in itertools.product(values, constants):
                inputs = [np.asarray(value + k / 3, dtype=dtype) for k in range(op.arity)]
                with np.errstate(all="ignore"):
                    check_traced(op, inputs, {"c": c} if takes_c else {})
