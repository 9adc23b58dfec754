"""The constant-input path through the DeZero adapter (issue 19, item 3): a held input is
passed as DeZero's plain array (skipped without DeZero; CI's framework step runs it)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from dezero_ext.testing import CheckOptions, check_gradients

if importlib.util.find_spec("dezero") is None:  # not importorskip: DeZero needs its shim
    pytest.skip(
        "DeZero is not installed: pip install 'dezero-ext[dezero]'", allow_module_level=True
    )

X = np.array([0.5, -1.5, 2.0])
Y = np.array([1.25, 0.75, -0.5])


def _sub(a: Any, b: Any) -> Any:
    return a - b


def test_dezero_holds_a_constant_as_an_array() -> None:
    from dezero_ext.testing.adapters.dezero import dezero_target

    target = dezero_target(_sub, arity=2, order=2)
    result = check_gradients(target, [X, Y], options=CheckOptions(seed=1))
    assert any("input 1 passed as a constant" in v.variant for v in result.variants)
