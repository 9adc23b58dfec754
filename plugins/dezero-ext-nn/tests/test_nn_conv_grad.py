"""Gradients of the conv ops w.r.t. every input, first to third order, against float64
central differences.

Each check is ``tests.oracle.assert_path_gradient``: a scalar of the op's output
differentiated ``len(path)`` times through the inputs ``path`` names, its gradient w.r.t. every
input compared element by element with central differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest

from dezero_ext import Array, Variable, get_registry
from dezero_ext.ops import sum as vsum
from dezero_ext_nn.conv import (
    average_pooling,
    col2im,
    conv2d,
    deconv2d,
    im2col,
    pooling,
)
from tests.numpy_draw import NumpyDraw
from tests.oracle import assert_path_gradient

Op = Callable[..., Variable]
Param = int | tuple[int, int]
RNG = np.random.default_rng(1)
T = TypeVar("T")


def _distinct(shape: tuple[int, ...]) -> Array:
    """Values 0.1 apart at least, in random order: no ties inside any pooling window."""
    size = int(np.prod(shape))
    return RNG.permutation(np.linspace(-2.0, 2.0, size)).reshape(shape)


# orders 1, 2 (through each input) and a few third-order paths
PATHS_3 = [(), (0,), (1,), (2,), (0, 1), (1, 1), (2, 0)]
PATHS_2 = [(), (0,), (1,), (0, 1), (1, 0)]


@pytest.mark.parametrize("path", PATHS_3)
@pytest.mark.parametrize(
    ("stride", "pad"), [(1, 0), ((2, 1), (1, 0)), (2, 1)], ids=["s1p0", "s21p10", "s2p1"]
)
def test_conv2d_gradients(path: tuple[int, ...], stride: Param, pad: Param) -> None:
    x = RNG.standard_normal((2, 2, 5, 4))
    w = RNG.standard_normal((3, 2, 3, 2))
    b = RNG.standard_normal(3)
    assert_path_gradient(lambda x, w, b: conv2d(x, w, b, stride=stride, pad=pad), [x, w, b], path)


@pytest.mark.parametrize("path", PATHS_2)
def test_conv2d_without_bias_gradients(path: tuple[int, ...]) -> None:
    x = RNG.standard_normal((1, 3, 4, 5))
    w = RNG.standard_normal((2, 3, 2, 3))
    assert_path_gradient(lambda x, w: conv2d(x, w, stride=(1, 2), pad=(1, 0)), [x, w], path)


@pytest.mark.parametrize("path", PATHS_3)
@pytest.mark.parametrize(
    ("stride", "pad", "outsize"),
    [(1, 0, None), (2, 1, (6, 5)), ((2, 1), (0, 1), None)],
    ids=["s1p0", "s2p1-outsize", "s21p01"],
)
def test_deconv2d_gradients(
    path: tuple[int, ...], stride: Param, pad: Param, outsize: tuple[int, int] | None
) -> None:
    x = RNG.standard_normal((2, 2, 3, 3))
    w = RNG.standard_normal((2, 3, 3, 2))
    b = RNG.standard_normal(3)
    assert_path_gradient(
        lambda x, w, b: deconv2d(x, w, b, stride=stride, pad=pad, outsize=outsize),
        [x, w, b],
        path,
    )


def test_conv2d_second_derivative_through_W_matches_the_closed_form() -> None:
    """DeZero 0.0.13's bug: for s = sum(conv2d(x, W) * v), gW depends on x through
    im2col(x); d/dx sum(gW * u) must be deconv2d(v, u) (DeZero uses gW in place of u)."""
    x = Variable(RNG.standard_normal((2, 3, 6, 5)))
    w = Variable(RNG.standard_normal((4, 3, 3, 3)))
    v = RNG.standard_normal(conv2d(x, w, stride=2, pad=1).shape)
    u = RNG.standard_normal(w.shape)
    vsum(conv2d(x, w, stride=2, pad=1) * v).backward(create_graph=True)
    gw = w.grad
    assert gw is not None
    x.cleargrad()
    w.cleargrad()
    vsum(gw * u).backward()
    assert x.grad is not None
    expected = deconv2d(v, u, stride=2, pad=1, outsize=(6, 5)).data
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12, atol=1e-12)
    # and d/dW sum(gW * u) is zero: gW is linear in v, which does not depend on W
    assert w.grad is None or not np.any(w.grad.data)


@pytest.mark.parametrize("path", [(), (0,), (0, 0), (0, 0, 0)])
@pytest.mark.parametrize(
    ("kernel", "stride", "pad"),
    [(2, 2, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))],
    ids=["k2s2", "k3s1p1", "k32s21p10"],
)
def test_max_pooling_gradients_to_fourth_order(
    path: tuple[int, ...], kernel: Param, stride: Param, pad: Param
) -> None:
    x = _distinct((2, 2, 5, 5)) - 1.0  # mostly negative: padding must not win
    assert_path_gradient(lambda x: pooling(x, kernel, stride, pad), [x], path)


@pytest.mark.parametrize("path", [(), (0,), (0, 0)])
@pytest.mark.parametrize(
    ("kernel", "stride", "pad"), [(2, 2, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 1))]
)
def test_average_pooling_gradients(
    path: tuple[int, ...], kernel: Param, stride: Param, pad: Param
) -> None:
    x = RNG.standard_normal((2, 2, 5, 4))
    assert_path_gradient(lambda x: average_pooling(x, kernel, stride, pad), [x], path)


@pytest.mark.parametrize("path", [(), (0,), (0, 0)])
def test_im2col_and_col2im_gradients(path: tuple[int, ...]) -> None:
    x = RNG.standard_normal((1, 2, 4, 5))
    assert_path_gradient(lambda x: im2col(x, (2, 3), (2, 1), (1, 0)), [x], path)
    col = RNG.standard_normal((1, 2, 2, 3, 3, 3))
    assert_path_gradient(
        lambda c: col2im(c, (1, 2, 4, 5), (2, 3), (2, 1), (1, 0), to_matrix=False), [col], path
    )


def test_conv_net_second_order_end_to_end() -> None:
    """conv2d -> max pooling -> deconv2d -> average pooling, differentiated twice."""
    x = RNG.standard_normal((1, 2, 6, 6))
    w1 = RNG.standard_normal((3, 2, 3, 3))
    w2 = RNG.standard_normal((3, 2, 2, 2))

    def net(x: Variable, w1: Variable, w2: Variable) -> Variable:
        h = pooling(conv2d(x, w1, pad=1), 2, 2)
        return average_pooling(deconv2d(h, w2, stride=2), 2, 1)

    assert_path_gradient(net, [x, w1, w2], (1,))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("name", "bias"),
    [
        ("conv2d", True),
        ("conv2d", False),
        ("deconv2d", True),
        ("deconv2d", False),
        ("pooling", False),
        ("average_pooling", False),
        ("im2col", False),
        ("col2im", False),
    ],
)
def test_sampled_cases_first_and_second_order(name: str, bias: bool, seed: int) -> None:
    """The registered samplers' cases (ints and pairs, outsize, every pad) checked through
    every input at second order, with and without the optional bias."""
    opdef = get_registry().get(name)
    assert opdef.sample is not None
    case = opdef.sample(NumpyDraw(seed, opdef.domains[0]))
    params = dict(case.params)
    inputs = case.inputs if bias else case.inputs[: opdef.min_arity]

    def op(*xs: Variable) -> Variable:
        y = opdef(*xs, **params)
        assert isinstance(y, Variable)
        return y

    for path in [(), *[(i,) for i in range(len(inputs))]]:
        assert_path_gradient(op, list(inputs), path)
