"""Cross-check of the conv ops with PyTorch in float64: forward values, first-order
gradients w.r.t. every input, and second-order ones (the gradient of a gradient). Skipped when
torch is not installed (it is not a dependency)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from dezero_ext import Array, Variable
from dezero_ext.ops import sum as vsum
from dezero_ext_nn.conv import average_pooling, col2im, conv2d, deconv2d, im2col, pooling

torch: Any = pytest.importorskip("torch")
F: Any = torch.nn.functional

RNG = np.random.default_rng(2)


def _ours(
    op: Callable[..., Variable], arrays: Sequence[Array], v: Array, u: Array, through: int
) -> tuple[Array, list[Array], list[Array]]:
    """y, the gradients of sum(y * v), and the gradients of sum(grad[through] * u)."""
    xs = [Variable(a.copy()) for a in arrays]
    y = op(*xs)
    vsum(y * v).backward(create_graph=True)
    first = [x.grad for x in xs]
    g = first[through]
    assert g is not None
    for x in xs:
        x.cleargrad()
    vsum(g * u).backward()
    second = [
        np.zeros_like(a) if x.grad is None else x.grad.data for a, x in zip(arrays, xs, strict=True)
    ]
    return (
        y.data,
        [np.zeros_like(a) if f is None else f.data for a, f in zip(arrays, first, strict=True)],
        second,
    )


def _theirs(
    op: Callable[..., Any], arrays: Sequence[Array], v: Array, u: Array, through: int
) -> tuple[Array, list[Array], list[Array]]:
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = op(*ts)
    first = torch.autograd.grad((y * torch.tensor(v)).sum(), ts, create_graph=True)
    s = (first[through] * torch.tensor(u)).sum()
    second = torch.autograd.grad(s, ts, allow_unused=True) if s.requires_grad else [None] * len(ts)
    to_np: Callable[[Any, Array], Array] = lambda t, a: (  # noqa: E731
        np.zeros_like(a) if t is None else t.detach().numpy()
    )
    return (
        y.detach().numpy(),
        [to_np(t, a) for t, a in zip(first, arrays, strict=True)],
        [to_np(t, a) for t, a in zip(second, arrays, strict=True)],
    )


def _bias(a: Sequence[Variable]) -> Variable | None:
    return a[2] if len(a) > 2 else None


def _compare(
    ours: Callable[..., Variable], theirs: Callable[..., Any], arrays: Sequence[Array]
) -> None:
    out_shape = ours(*[Variable(a) for a in arrays]).shape
    v = RNG.standard_normal(out_shape)
    for through in range(len(arrays)):
        u = RNG.standard_normal(arrays[through].shape)
        y1, g1, h1 = _ours(ours, arrays, v, u, through)
        y2, g2, h2 = _theirs(theirs, arrays, v, u, through)
        np.testing.assert_allclose(y1, y2, rtol=1e-10, atol=1e-10)
        for i in range(len(arrays)):
            np.testing.assert_allclose(g1[i], g2[i], rtol=1e-10, atol=1e-10, err_msg=f"d/d{i}")
            np.testing.assert_allclose(
                h1[i], h2[i], rtol=1e-10, atol=1e-10, err_msg=f"d/d{i} of grad {through}"
            )


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1), ((2, 1), (0, 2)), ((1, 3), (1, 1))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(stride: Any, pad: Any, bias: bool) -> None:
    arrays = [RNG.standard_normal((2, 3, 7, 6)), RNG.standard_normal((4, 3, 3, 2))]
    if bias:
        arrays.append(RNG.standard_normal(4))
    _compare(
        lambda *a: conv2d(a[0], a[1], _bias(a), stride=stride, pad=pad),
        lambda *a: F.conv2d(*a, stride=stride, padding=pad),
        arrays,
    )


@pytest.mark.parametrize(
    ("stride", "pad", "extra"),
    [(1, 0, (0, 0)), (2, 1, (1, 0)), ((2, 3), (0, 1), (1, 2)), ((1, 2), (1, 0), (0, 1))],
)
@pytest.mark.parametrize("bias", [True, False])
def test_deconv2d_matches_torch(stride: Any, pad: Any, extra: tuple[int, int], bias: bool) -> None:
    arrays = [RNG.standard_normal((2, 3, 4, 5)), RNG.standard_normal((3, 2, 3, 2))]
    if bias:
        arrays.append(RNG.standard_normal(2))
    s = (stride, stride) if isinstance(stride, int) else stride
    p = (pad, pad) if isinstance(pad, int) else pad
    outsize = (s[0] * 3 + 3 - 2 * p[0] + extra[0], s[1] * 4 + 2 - 2 * p[1] + extra[1])
    _compare(
        lambda *a: deconv2d(a[0], a[1], _bias(a), stride=stride, pad=pad, outsize=outsize),
        lambda *a: F.conv_transpose2d(*a, stride=stride, padding=pad, output_padding=extra),
        arrays,
    )


POOLS = [(2, 2, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 1)), ((2, 3), (1, 3), (1, 0))]


@pytest.mark.parametrize(("kernel", "stride", "pad"), POOLS)
def test_max_pooling_matches_torch(kernel: Any, stride: Any, pad: Any) -> None:
    x = RNG.permutation(np.linspace(-3.0, 1.0, 2 * 3 * 7 * 6)).reshape(2, 3, 7, 6)
    _compare(
        lambda a: pooling(a, kernel, stride, pad),
        lambda a: F.max_pool2d(a, kernel, stride, pad),
        [x],
    )


@pytest.mark.parametrize(("kernel", "stride", "pad"), POOLS)
def test_average_pooling_matches_torch(kernel: Any, stride: Any, pad: Any) -> None:
    x = RNG.standard_normal((2, 3, 7, 6))
    _compare(
        lambda a: average_pooling(a, kernel, stride, pad),
        lambda a: F.avg_pool2d(a, kernel, stride, pad, count_include_pad=True),
        [x],
    )


def test_float32_conv2d_close_to_torch() -> None:
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = RNG.standard_normal((5, 3, 3, 3)).astype(np.float32)
    ours = conv2d(x, w, stride=2, pad=1).data
    theirs = F.conv2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("kernel", "stride", "pad"), [(2, 1, 0), ((3, 2), (2, 1), (1, 0))])
def test_im2col_and_col2im_match_unfold_and_fold(kernel: Any, stride: Any, pad: Any) -> None:
    x = RNG.standard_normal((2, 3, 6, 5))
    col = im2col(x, kernel, stride, pad, to_matrix=False).data
    n, c, kh, kw, oh, ow = col.shape
    unfolded = F.unfold(torch.tensor(x), kernel, padding=pad, stride=stride).numpy()
    np.testing.assert_array_equal(col.reshape(n, c * kh * kw, oh * ow), unfolded)
    back = col2im(col, x.shape, kernel, stride, pad, to_matrix=False).data
    folded = F.fold(torch.tensor(unfolded), (6, 5), kernel, padding=pad, stride=stride).numpy()
    np.testing.assert_allclose(back, folded, rtol=1e-12, atol=1e-12)
