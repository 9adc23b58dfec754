"""The seed the project grew from (DeZero step 7), reproduced with the public API."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable
from dezero_ext.ops import exp, square
from dezero_ext.ops.basic import Exp, Square

SEED_GRAD = 3.297442541400256  # the notebook's printed x.grad


def test_seed_graph_links_back_to_x_and_backward_matches_notebook() -> None:
    A, B, C = Square(), Exp(), Square()
    x = Variable(np.array(0.5))
    a = A(x)
    b = B(a)
    y = C(b)

    assert y.creator is C
    assert y.creator.inputs[0] is b
    assert b.creator is B
    assert b.creator.inputs[0] is a
    assert a.creator is A
    assert a.creator.inputs[0] is x

    y.backward()
    assert x.grad is not None
    assert x.grad.data == pytest.approx(SEED_GRAD, abs=1e-12)


def test_seed_through_typed_functions() -> None:
    x = Variable(np.array(0.5))
    y = square(exp(square(x)))
    y.backward()
    assert x.grad is not None
    assert x.grad.data == pytest.approx(SEED_GRAD, abs=1e-12)
    # the analytic value: d/dx exp(x^2)^2 = 4x exp(2x^2)
    assert x.grad.data == pytest.approx(4 * 0.5 * np.exp(2 * 0.25), abs=1e-12)
