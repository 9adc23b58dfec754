"""What the DeZero adapter checks besides one call's gradient (skipped without DeZero): a
``Function`` that writes into its input's array fails the mutation check; one that keeps its
input on the class fails the composition check; their correct twins pass."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from dezero_ext import Domain
from dezero_ext.testing import CheckOptions, GradientCheckError, check_gradients

if importlib.util.find_spec("dezero") is None:  # not importorskip: DeZero needs its shim
    pytest.skip(
        "DeZero is not installed: pip install 'dezero-ext[dezero]'", allow_module_level=True
    )

from dezero_ext.testing.adapters.dezero import dezero_target, import_dezero

dezero: Any = import_dezero()
F: Any = dezero.functions
X = [np.array([0.3, -1.2, 2.0, 0.7])]


class Sin(dezero.Function):  # type: ignore[misc]  # DeZero is untyped (Any)
    def forward(self, x: Any) -> Any:
        return np.sin(x)

    def backward(self, gy: Any) -> Any:
        (x,) = self.inputs
        return gy * F.cos(x)


class HalvingSin(Sin):
    """sin with a right gradient, whose forward halves the input's array in place."""

    def forward(self, x: Any) -> Any:
        y = np.sin(x)
        x *= 0.5
        return y

    def backward(self, gy: Any) -> Any:
        (x,) = self.inputs
        return gy * F.cos(dezero.Variable(x.data * 2))


class CachedSin(Sin):
    """sin whose forward keeps its input on the class, which backward reads."""

    cached: Any = None

    def forward(self, x: Any) -> Any:
        CachedSin.cached = x.copy()
        return np.sin(x)

    def backward(self, gy: Any) -> Any:
        return gy * dezero.Variable(np.cos(CachedSin.cached))


def test_a_function_writing_into_its_input_fails_the_mutation_check() -> None:
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(dezero_target(HalvingSin, domains=Domain(-3, 3)), X)
    failure = raised.value.failure
    assert failure.kind == "inplace" and failure.worst is not None and failure.worst.input == 0
    assert "in place: the function writes into an input DeZero gives it" in " ".join(
        str(raised.value).split()
    )


def test_a_function_keeping_state_on_its_class_fails_the_composition_check() -> None:
    target = dezero_target(CachedSin, domains=Domain(-3, 3))
    assert check_gradients(target, X, options=CheckOptions(compose=False)).orders
    with pytest.raises(GradientCheckError) as raised:
        check_gradients(target, X)
    assert raised.value.failure.example.composed
    assert "state:" in str(raised.value)


def test_the_correct_twin_passes_every_composition() -> None:
    result = check_gradients(dezero_target(Sin, domains=Domain(-3, 3)), X)
    assert len(result.variants) == 2
