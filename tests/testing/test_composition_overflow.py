"""The composition checks compute nothing the op's own check would not: a correct float16 op
whose outputs come near float16's largest value (65504) passes them, where summing two of its
outputs once overflowed and the op was diagnosed as keeping state."""

from __future__ import annotations

import warnings

import numpy as np

from dezero_ext import Domain, Function, OpDef, Variable
from dezero_ext.core.variable import Array
from dezero_ext.testing import CheckOptions, check_gradients, check_op


class Copy16(Function):
    """``x * 1``: a correct op, its outputs as large as its inputs."""

    saves_inputs = saves_output = False

    def forward(self, x: Array) -> Array:
        return x * 1.0

    def backward(self, gy: Variable) -> Variable:
        return gy * 1.0


COPY16 = OpDef("copy16", Copy16, domains=(Domain(1e4, 6e4),), dtypes=("float16",))


def test_a_large_float16_output_passes_the_two_instance_composition() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reference's steps near 65504
        result = check_gradients(
            COPY16, [np.array(32768.0, dtype=np.float16)], options=CheckOptions(orders=(1,))
        )
    names = [v.variant.split(":")[0] for v in result.variants]
    assert "composition f(a) + f(b), f(c)" in names


def test_a_float16_op_on_a_domain_near_its_largest_value_passes_its_check() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = check_op(COPY16, CheckOptions(examples=40))
    assert result.verdict == "ok", result.report
