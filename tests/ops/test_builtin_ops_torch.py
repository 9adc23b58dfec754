"""Independent cross-check of the built-in ops against PyTorch (skipped without torch):
forward values, gradients and second derivatives in float64 on random inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dezero_ext import Variable, ops

torch: Any = pytest.importorskip("torch")

from tests.torch_compare import compare_with_torch  # noqa: E402 - after the skip

RNG = np.random.default_rng(5)


def u(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


BINARY: list[tuple[str, Callable[..., Variable], Callable[..., Any]]] = [
    ("add", ops.add, lambda a, b: a + b),
    ("sub", ops.sub, lambda a, b: a - b),
    ("mul", ops.mul, lambda a, b: a * b),
    ("div", ops.div, lambda a, b: a / b),
    ("power", ops.power, lambda a, b: torch.pow(a, b)),
]


@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3,)), ((4, 1, 3), (2, 1)), ((), (2,))])
@pytest.mark.parametrize(("name", "ours", "theirs"), BINARY, ids=[b[0] for b in BINARY])
def test_broadcasting_binary_ops_agree_with_torch(
    name: str,
    ours: Callable[..., Variable],
    theirs: Callable[..., Any],
    sa: tuple[int, ...],
    sb: tuple[int, ...],
) -> None:
    if name == "power":
        a, b = u(*sa, low=0.3, high=2.0), u(*sb)
    elif name == "div":
        a, b = u(*sa), u(*sb, low=0.5, high=2.0)
    else:
        a, b = u(*sa), u(*sb)
    compare_with_torch(ours, theirs, a, b)


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 4), (4, 2)),
        ((4,), (4,)),
        ((4,), (4, 3)),
        ((3, 4), (4,)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (2, 3, 4, 2)),
        ((2, 3, 3, 4), (4,)),
    ],
)
def test_matmul_agrees_with_torch(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    compare_with_torch(ops.matmul, torch.matmul, u(*sa), u(*sb))


@pytest.mark.parametrize(
    ("name", "ours", "theirs", "low"),
    [
        ("exp", ops.exp, lambda t: torch.exp(t), -2.0),
        ("square", ops.square, lambda t: torch.square(t), -2.0),
        ("neg", ops.neg, lambda t: -t, -2.0),
        ("pow", lambda x: ops.pow(x, -1.5), lambda t: torch.pow(t, -1.5), 0.3),
        ("sum", lambda x: ops.sum(x, (0, 2), True), lambda t: t.sum(dim=(0, 2), keepdim=True), -2),
        ("mean", lambda x: ops.mean(x, -1), lambda t: t.mean(dim=-1), -2.0),
        ("reshape", lambda x: ops.reshape(x, (4, -1)), lambda t: t.reshape(4, -1), -2.0),
        ("transpose", lambda x: ops.transpose(x, (2, 0, 1)), lambda t: t.permute(2, 0, 1), -2.0),
        (
            "broadcast_to",
            lambda x: ops.broadcast_to(x, (5, 2, 3, 4)),
            lambda t: t.expand(5, 2, 3, 4),
            -2.0,
        ),
        ("sum_to", lambda x: ops.sum_to(x, (1, 4)), lambda t: t.sum(dim=(0, 1)).reshape(1, 4), -2),
        ("expand_dims", lambda x: ops.expand_dims(x, 1), lambda t: t.unsqueeze(1), -2.0),
        ("flatten", ops.flatten, lambda t: t.flatten(1), -2.0),
        (
            "get_item",
            lambda x: ops.get_item(x, (np.array([1, 0, 1, 1]), slice(None), 2)),
            lambda t: t[torch.tensor([1, 0, 1, 1]), :, 2],
            -2.0,
        ),
    ],
)
def test_unary_and_shape_ops_agree_with_torch(
    name: str, ours: Callable[..., Variable], theirs: Callable[..., Any], low: float
) -> None:
    compare_with_torch(ours, theirs, u(2, 3, 4, low=low))
