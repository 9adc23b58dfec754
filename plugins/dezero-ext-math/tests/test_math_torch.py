"""Independent cross-check of the math plugin against PyTorch (skipped without torch):
forward values, gradients and second derivatives in float64 on random inputs.

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import dezero_ext_math as dm
from dezero_ext import Variable

torch: Any = pytest.importorskip("torch")

from tests.torch_compare import compare_with_torch  # noqa: E402 - after the skip

RNG = np.random.default_rng(99)


def _uniform(low: float, high: float, *shape: int) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


UNARY: Sequence[tuple[str, Callable[..., Variable], Callable[..., Any], float, float]] = [
    ("sin", dm.sin, lambda t: torch.sin(t), -6.0, 6.0),
    ("cos", dm.cos, lambda t: torch.cos(t), -6.0, 6.0),
    ("tan", dm.tan, lambda t: torch.tan(t), -1.3, 1.3),
    ("tanh", dm.tanh, lambda t: torch.tanh(t), -4.0, 4.0),
    ("log", dm.log, lambda t: torch.log(t), 0.2, 4.0),
    ("log1p", dm.log1p, lambda t: torch.log1p(t), -0.8, 3.0),
    ("sqrt", dm.sqrt, lambda t: torch.sqrt(t), 0.1, 4.0),
    ("abs", dm.abs, lambda t: torch.abs(t), -2.0, 2.0),
    ("clip", lambda x: dm.clip(x, -0.5, 1.0), lambda t: torch.clamp(t, -0.5, 1.0), -2.0, 2.0),
]


@pytest.mark.parametrize(
    ("name", "ours", "theirs", "low", "high"), UNARY, ids=[u[0] for u in UNARY]
)
def test_unary_ops_agree_with_torch(
    name: str,
    ours: Callable[..., Variable],
    theirs: Callable[..., Any],
    low: float,
    high: float,
) -> None:
    compare_with_torch(ours, theirs, _uniform(low, high, 3, 4))


def test_abs_and_clip_at_their_kinks_agree_with_torch() -> None:
    x = np.array([-1.0, 0.0, 1.0, -0.5, 2.0])
    compare_with_torch(dm.abs, torch.abs, x)
    compare_with_torch(lambda v: dm.clip(v, -0.5, 1.0), lambda t: torch.clamp(t, -0.5, 1.0), x)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (dm.maximum, lambda a, b: torch.maximum(a, b)),
        (dm.minimum, lambda a, b: torch.minimum(a, b)),
    ],
    ids=["maximum", "minimum"],
)
def test_maximum_minimum_agree_with_torch_including_ties(
    ours: Callable[..., Variable], theirs: Callable[..., Any]
) -> None:
    compare_with_torch(ours, theirs, _uniform(-2, 2, 2, 3), _uniform(-2, 2, 3))
    tied = np.array([1.0, 2.0, 3.0])
    compare_with_torch(ours, theirs, tied, np.array([3.0, 2.0, 1.0]))


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), -1], ids=["all", "0", "1", "(0,2)", "-1"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_agree_with_torch(axis: int | tuple[int, ...] | None, keepdims: bool) -> None:
    a = RNG.permutation(np.arange(24.0) / 7).reshape(2, 3, 4)
    dim = tuple(range(3)) if axis is None else axis
    compare_with_torch(
        lambda v: dm.max(v, axis, keepdims), lambda t: torch.amax(t, dim=dim, keepdim=keepdims), a
    )
    compare_with_torch(
        lambda v: dm.min(v, axis, keepdims), lambda t: torch.amin(t, dim=dim, keepdim=keepdims), a
    )
    compare_with_torch(
        lambda v: dm.logsumexp(v, axis, keepdims),
        lambda t: torch.logsumexp(t, dim=dim, keepdim=keepdims),
        _uniform(-3, 3, 2, 3, 4),
    )


def test_max_with_ties_splits_as_torch_amax() -> None:
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    compare_with_torch(lambda v: dm.max(v, 1), lambda t: torch.amax(t, dim=1), a)
