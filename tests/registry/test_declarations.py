"""Declarations the checks cannot run are refused when the ``Domain`` or ``OpDef`` is built,
naming what is wrong, instead of failing later with a Hypothesis message."""

from __future__ import annotations

import pytest

from dezero_ext import Domain, OpDef
from dezero_ext.ops.basic import Square


def test_a_domain_whose_margins_leave_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no value of \[-0.01, 0.01\] is at least margin=0.05"):
        Domain(-0.01, 0.01, kinks=(0.0,), margin=0.05)
    with pytest.raises(ValueError, match="at least margin=0.5 away from -1, 0, 1"):
        Domain(-1.2, 1.2, exclude=(-1.0, 1.0), kinks=(0.0,), margin=0.5)
    assert Domain(-1.0, 1.0, kinks=(0.0,), margin=0.5).intervals() == [(-1.0, -0.5), (0.5, 1.0)]


def test_an_op_needs_a_dtype_to_be_checked_in() -> None:
    with pytest.raises(ValueError, match="dtypes is empty"):
        OpDef("f", Square, dtypes=())
    with pytest.raises(TypeError, match=r"one dtype: dtypes=\('float32',\)"):
        OpDef("f", Square, dtypes="float32")  # type: ignore[arg-type]  # the mistake is the point
    with pytest.raises(ValueError, match="unsupported dtype 'int32'"):
        OpDef("f", Square, dtypes=("int32",))


def test_a_domain_with_no_value_in_a_declared_dtype_is_refused() -> None:
    tiny = Domain(1e-9, 2e-9)  # below float16's smallest normal number
    with pytest.raises(ValueError, match=r"input 0's Domain.*has no float16 value"):
        OpDef("f", Square, domains=(tiny,), dtypes=("float64", "float16"))
    assert OpDef("f", Square, domains=(tiny,), dtypes=("float64", "float32")).domains == (tiny,)
    narrow = Domain(1.0 + 1e-12, 1.0 + 2e-12)  # no float32 inside
    with pytest.raises(ValueError, match="has no float32 value"):
        OpDef("g", Square, domains=(narrow,))
