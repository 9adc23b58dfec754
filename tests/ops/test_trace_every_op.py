"""Every registered op, traced and eager, on drawn examples in each of its dtypes: the same
forward values and the same gradients, bit for bit (a replay runs the same ``forward``, or
``forward_scalar`` on 0-d values, and ``backward_array`` on the same values), on the
recording call, on a replay, and on a replay with other values. This is the check
``dezero-ext check --traced`` runs (``dezero_ext.testing.tracecheck``), here in CI."""

from __future__ import annotations

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
    """The ops with ``forward_scalar`` are checked on 0-d values in every dtype (drawn shapes
    may miss them)."""
    for name in ("exp", "square", "neg", "log", "pow", "mul_scalar", "add", "mul", "div"):
        op = _OPS[name]
        assert op.function.forward_scalar is not None, name
        for dtype in op.dtypes:
            x = np.asarray(0.75, dtype=dtype)
            inputs = [x] * op.arity
            params = {"c": 2.5} if name in ("pow", "mul_scalar") else {}
            assert check_traced(op, inputs, params), (name, dtype)
