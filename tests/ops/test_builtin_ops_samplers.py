"""The built-in samplers draw the parameters the ops accept: get_item's indices cover every
kind of index it supports, and drawn cases pass the float64 derivative checks."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable, get_registry
from tests.numpy_draw import NumpyDraw
from tests.oracle import assert_grad, assert_second_order


def _parts(index: object) -> tuple[object, ...]:
    return index if isinstance(index, tuple) else (index,)


def test_get_item_sampler_covers_every_kind_of_index() -> None:
    opdef = get_registry().get("get_item")
    assert opdef.sample is not None
    seen: set[str] = set()
    for seed in range(300):
        case = opdef.sample(NumpyDraw(seed, opdef.domains[0]))
        for part in _parts(case.params["index"]):
            if isinstance(part, np.ndarray) and part.dtype == bool:
                seen.add("boolean mask")
            elif isinstance(part, np.ndarray) and part.ndim > 1:
                seen.add("2-d integer array")
            elif isinstance(part, np.ndarray):
                seen.add("integer array")
            elif isinstance(part, slice) and part.step is not None and part.step < 0:
                seen.add("negative step")
            elif part is None:
                seen.add("newaxis")
            elif part is Ellipsis:
                seen.add("ellipsis")
        arrays = [p for p in _parts(case.params["index"]) if isinstance(p, np.ndarray)]
        if len(arrays) >= 2:
            seen.add("several index arrays")
    expected = {
        "boolean mask",
        "2-d integer array",
        "integer array",
        "negative step",
        "newaxis",
        "ellipsis",
        "several index arrays",
    }
    assert expected <= seen, f"never drawn: {sorted(expected - seen)}"


@pytest.mark.parametrize("seed", range(40))
def test_drawn_get_item_cases_pass_the_derivative_checks(seed: int) -> None:
    opdef = get_registry().get("get_item")
    assert opdef.sample is not None
    case = opdef.sample(NumpyDraw(seed, opdef.domains[0]))
    (x,) = case.inputs
    index = case.params["index"]
    expected = x[index]  # type: ignore[call-overload]  # params are objects; an Index here
    np.testing.assert_array_equal(opdef.outputs(Variable(x), index=index)[0].data, expected)

    def op(v: Variable) -> Variable:
        y = opdef(v, index=index)
        assert isinstance(y, Variable)
        return y

    assert_grad(op, x, seed=seed)
    assert_second_order(op, x, seed=seed)


def test_transpose_sampler_draws_negative_axes_too() -> None:
    opdef = get_registry().get("transpose")
    assert opdef.sample is not None
    drawn = [opdef.sample(NumpyDraw(seed, opdef.domains[0])).params["axes"] for seed in range(100)]
    assert any(isinstance(a, tuple) and min(a, default=0) < 0 for a in drawn)
    assert None in drawn
