"""detect_anomaly(): a nan or inf in a backward pass is reported at the op that made it."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Variable, detect_anomaly
from dezero_ext.ops import exp, log, square
from dezero_ext_math import clip, sqrt


def test_without_it_nan_flows_silently_and_clip_hides_it() -> None:
    x = Variable(np.array([-1.0, 1.0]))
    with np.errstate(invalid="ignore"):
        y = clip(log(x), -5.0, 5.0).sum()  # log(-1) is nan; clip's gradient there is 0
        y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0])


def test_it_names_the_op_whose_forward_made_nan_from_finite_inputs() -> None:
    x = Variable(np.array([-1.0, 1.0]))
    with np.errstate(invalid="ignore"):
        y = clip(square(log(x)), -5.0, 5.0).sum()
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"log's forward .* nan"):
        y.backward()
    assert x.grad is None, "the pass is abandoned: no gradient is set"


def test_it_names_the_op_whose_backward_made_inf_from_finite_values() -> None:
    x = Variable(np.array([0.0, 4.0]))
    y = sqrt(x).sum()  # finite forward; the gradient 1 / (2 sqrt(x)) is inf at 0
    with (
        detect_anomaly(),
        np.errstate(divide="ignore"),
        pytest.raises(FloatingPointError, match="sqrt's backward gave inf .* of input 0"),
    ):
        y.backward()


def test_finite_passes_are_unchanged() -> None:
    x = Variable(np.array([0.5, 1.5]))
    with detect_anomaly():
        exp(square(x)).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 2 * x.data * np.exp(x.data**2))


def test_the_readme_example_with_no_intermediate_held() -> None:
    # log's output is held by nothing but clip (issue 18, item 3): the check must still see it
    with (
        detect_anomaly(),
        np.errstate(invalid="ignore"),
        pytest.raises(FloatingPointError, match=r"log's forward .* nan"),
    ):
        clip(log(Variable(np.array(-1.0))), -10.0, 10.0).backward()


def test_an_output_nothing_holds_is_seen_in_what_its_op_kept() -> None:
    # exp keeps its output for backward; mul_scalar, after it, keeps nothing
    x = Variable(np.array(1000.0))
    with np.errstate(over="ignore", invalid="ignore"):
        y = exp(x) * 0.0
    with (
        detect_anomaly(),
        np.errstate(invalid="ignore"),  # exp's backward: 0 * inf
        pytest.raises(FloatingPointError, match=r"exp's forward .* inf"),
    ):
        y.backward()


def _raise_inside_nested_blocks(plain: object) -> None:
    from dezero_ext import Function

    with detect_anomaly():
        assert Function.__call__ is not plain
        with detect_anomaly():  # nested: still watched after the inner block closes
            pass
        assert Function.__call__ is not plain
        raise KeyError


def test_forwards_are_watched_only_while_a_block_is_open() -> None:
    from dezero_ext import Function

    plain = Function.__call__
    with pytest.raises(KeyError):
        _raise_inside_nested_blocks(plain)
    assert Function.__call__ is plain, "recording costs nothing more outside the blocks"
