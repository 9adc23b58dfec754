"""conv2d, deconv2d, pooling, average_pooling, im2col, col2im: forward values against loop
references, dtypes, parameters, error messages, registration."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from dezero_ext import Array, Variable, get_registry, no_grad
from dezero_ext_nn.conv import (
    average_pooling,
    col2im,
    conv2d,
    deconv2d,
    im2col,
    pooling,
)
from tests.numpy_draw import NumpyDraw

Pair = tuple[int, int]


# --------------------------------------------------------------- loop-based references


def conv2d_ref(x: Array, w: Array, b: Array | None, stride: Pair, pad: Pair) -> Array:
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, oc, oh, ow))
    for i in range(n):
        for o in range(oc):
            for r in range(oh):
                for s in range(ow):
                    window = xp[i, :, r * sh : r * sh + kh, s * sw : s * sw + kw]
                    y[i, o, r, s] = np.sum(window * w[o]) + (0.0 if b is None else b[o])
    return y


def deconv2d_ref(
    x: Array, w: Array, b: Array | None, stride: Pair, pad: Pair, outsize: Pair | None
) -> Array:
    """Each input pixel scatters ``x[i, c, r, s] * W[c]`` into the (padded) output."""
    n, c, h, wd = x.shape
    _, oc, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, pad
    oh = sh * (h - 1) + kh - 2 * ph if outsize is None else outsize[0]
    ow = sw * (wd - 1) + kw - 2 * pw if outsize is None else outsize[1]
    full = np.zeros((n, oc, oh + 2 * ph + sh, ow + 2 * pw + sw))
    for i in range(n):
        for ch in range(c):
            for r in range(h):
                for s in range(wd):
                    full[i, :, r * sh : r * sh + kh, s * sw : s * sw + kw] += x[i, ch, r, s] * w[ch]
    y = full[:, :, ph : ph + oh, pw : pw + ow]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def pool_ref(x: Array, kernel: Pair, stride: Pair, pad: Pair, kind: str) -> Array:
    n, c, h, wd = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    fill = -np.inf if kind == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), fill)
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    for r in range(oh):
        for s in range(ow):
            window = xp[:, :, r * sh : r * sh + kh, s * sw : s * sw + kw]
            y[:, :, r, s] = window.max(axis=(2, 3)) if kind == "max" else window.mean(axis=(2, 3))
    return y


RNG = np.random.default_rng(0)
# (kernel, stride, pad) combinations, square and not
WINDOWS = [
    ((1, 1), (1, 1), (0, 0)),
    ((3, 3), (1, 1), (1, 1)),
    ((3, 2), (2, 1), (1, 0)),
    ((2, 3), (3, 2), (0, 1)),
    ((3, 3), (2, 2), (2, 1)),
]


@pytest.mark.parametrize(("kernel", "stride", "pad"), WINDOWS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_loop_reference(
    kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int], bias: bool
) -> None:
    x = RNG.standard_normal((2, 3, 7, 6))
    w = RNG.standard_normal((4, 3, *kernel))
    b = RNG.standard_normal(4) if bias else None
    y = conv2d(x, w, b, stride=stride, pad=pad)
    np.testing.assert_allclose(y.data, conv2d_ref(x, w, b, stride, pad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("kernel", "stride", "pad"), WINDOWS)
@pytest.mark.parametrize("extra", [None, (1, 0)])
def test_deconv2d_matches_loop_reference(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    extra: tuple[int, int] | None,
) -> None:
    x = RNG.standard_normal((2, 3, 4, 5))
    w = RNG.standard_normal((3, 2, *kernel))
    b = RNG.standard_normal(2)
    outsize = None
    if extra is not None:
        base = [
            s * (n - 1) + k - 2 * p for s, n, k, p in zip(stride, (4, 5), kernel, pad, strict=True)
        ]
        outsize = (base[0] + min(extra[0], stride[0] - 1), base[1] + min(extra[1], stride[1] - 1))
    y = deconv2d(x, w, b, stride=stride, pad=pad, outsize=outsize)
    expected = deconv2d_ref(x, w, b, stride, pad, outsize)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


def test_deconv2d_is_the_adjoint_of_conv2d() -> None:
    """<conv2d(x, W), y> == <x, deconv2d(y, W)> for the same stride and pad."""
    x = RNG.standard_normal((2, 3, 7, 8))
    w = RNG.standard_normal((4, 3, 3, 2))
    y = RNG.standard_normal(conv2d(x, w, stride=2, pad=1).shape)
    lhs = np.sum(conv2d(x, w, stride=2, pad=1).data * y)
    rhs = np.sum(x * deconv2d(y, w, stride=2, pad=1, outsize=(7, 8)).data)
    assert lhs == pytest.approx(rhs, rel=1e-12)


POOL_WINDOWS = [
    ((2, 2), (2, 2), (0, 0)),
    ((3, 3), (1, 1), (1, 1)),
    ((3, 2), (2, 1), (1, 1)),
    ((1, 3), (1, 3), (0, 1)),
]


@pytest.mark.parametrize(("kernel", "stride", "pad"), POOL_WINDOWS)
@pytest.mark.parametrize("kind", ["max", "mean"])
def test_pooling_matches_loop_reference(
    kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int], kind: str
) -> None:
    x = RNG.standard_normal((2, 3, 7, 6)) - 3.0  # negative: zero padding would win a max
    op = pooling if kind == "max" else average_pooling
    y = op(x, kernel, stride, pad)
    np.testing.assert_allclose(y.data, pool_ref(x, kernel, stride, pad, kind), rtol=1e-12)


def test_pooling_defaults_follow_dezero() -> None:
    x = RNG.standard_normal((1, 1, 5, 5))
    assert pooling(x, 2).shape == (1, 1, 4, 4)  # stride 1 by default, as in DeZero
    assert average_pooling(x, 3, 2, 1).shape == (1, 1, 3, 3)


def test_max_pooling_gradient_goes_to_the_first_maximum_on_ties() -> None:
    x = Variable(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]))
    pooling(x, 2).backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_im2col_col2im_shapes_and_adjointness() -> None:
    x = RNG.standard_normal((2, 3, 5, 6))
    col = im2col(x, (3, 2), (2, 1), (1, 0), to_matrix=False)
    assert col.shape == (2, 3, 3, 2, 3, 5)
    mat = im2col(x, (3, 2), (2, 1), (1, 0))
    assert mat.shape == (2 * 3 * 5, 3 * 3 * 2)
    # Row r of the matrix is window r: the same numbers as the 6-D array.
    np.testing.assert_array_equal(mat.data, col.data.transpose(0, 4, 5, 1, 2, 3).reshape(30, 18))
    c = RNG.standard_normal(col.shape)
    back = col2im(c, x.shape, (3, 2), (2, 1), (1, 0), to_matrix=False)
    assert np.sum(col.data * c) == pytest.approx(np.sum(x * back.data), rel=1e-12)
    c2 = RNG.standard_normal(mat.shape)
    back2 = col2im(c2, x.shape, (3, 2), (2, 1), (1, 0))
    assert np.sum(mat.data * c2) == pytest.approx(np.sum(x * back2.data), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_forward_and_backward(dtype: type[np.floating]) -> None:
    x = Variable(RNG.standard_normal((2, 3, 6, 6)).astype(dtype))
    w = Variable(RNG.standard_normal((4, 3, 3, 3)).astype(dtype))
    b = Variable(RNG.standard_normal(4).astype(dtype))
    wd = Variable(RNG.standard_normal((4, 2, 2, 2)).astype(dtype))
    y = conv2d(x, w, b, stride=1, pad=1)
    z = deconv2d(y, wd, b[:2], stride=2)
    p = pooling(z, 2, 2) + average_pooling(z, 3, 2, 1)
    for v in (y, z, p):
        assert v.dtype == dtype
    p.sum().backward(create_graph=True)
    for v in (x, w, b, wd):
        assert v.grad is not None
        assert v.grad.dtype == dtype
    assert w.grad is not None
    gw = w.grad
    for v in (x, w, b, wd):
        v.cleargrad()
    (gw * gw).sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == dtype


def test_float32_agrees_with_float64() -> None:
    x = RNG.standard_normal((2, 3, 6, 6))
    w = RNG.standard_normal((4, 3, 3, 3))
    y64 = conv2d(x, w, stride=2, pad=1).data
    y32 = conv2d(x.astype(np.float32), w.astype(np.float32), stride=2, pad=1).data
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)


def test_no_grad_keeps_nothing_for_backward() -> None:
    x = RNG.standard_normal((1, 1, 4, 4))
    with no_grad():
        y = conv2d(x, RNG.standard_normal((1, 1, 2, 2)))
    assert y.creator is None


def test_backward_twice_gives_the_same_gradient() -> None:
    """The forward's im2col is handed to the first backward; a second one must redo it."""
    x = Variable(RNG.standard_normal((1, 2, 5, 5)))
    w = Variable(RNG.standard_normal((3, 2, 3, 3)))
    y = conv2d(x, w, pad=1)
    y.backward()
    assert w.grad is not None
    first = w.grad.data.copy()
    w.cleargrad()
    y.backward()
    np.testing.assert_allclose(w.grad.data, first, rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: conv2d(np.zeros((2, 3, 5, 5)), np.zeros((8, 4, 3, 3))),
            "conv2d: x has 3 channels but W expects 4 (W shape (8, 4, 3, 3))",
        ),
        (
            lambda: conv2d(np.zeros((3, 5, 5)), np.zeros((8, 3, 3, 3))),
            "conv2d: x must be 4-D (N, C, H, W), got shape (3, 5, 5)",
        ),
        (
            lambda: conv2d(np.zeros((1, 3, 5, 5)), np.zeros((8, 3, 3))),
            "conv2d: W must be 4-D (out_channels, in_channels, KH, KW), got shape (8, 3, 3)",
        ),
        (
            lambda: deconv2d(np.zeros((1, 3, 5, 5)), np.zeros((3, 2, 0, 3))),
            "deconv2d: W has an empty 0x3 kernel (W shape (3, 2, 0, 3))",
        ),
        (
            lambda: conv2d(np.zeros((1, 3, 5, 5)), np.zeros((8, 3, 3, 3)), np.zeros(4)),
            "conv2d: b has shape (4,) but W has 8 output channels (W shape (8, 3, 3, 3)); "
            "b must have shape (8,)",
        ),
        (
            lambda: conv2d(np.zeros((1, 3, 2, 5)), np.zeros((8, 3, 3, 3))),
            "conv2d: a 3x3 kernel (W shape (8, 3, 3, 3)) does not fit in the 2x5 input padded "
            "by (0, 0) (x shape (1, 3, 2, 5))",
        ),
        (
            lambda: conv2d(np.zeros((1, 3, 5, 5)), np.zeros((8, 3, 3, 3)), stride=0),
            "conv2d: stride must be an int >= 1 or a pair of them (height, width), got 0",
        ),
        (
            lambda: conv2d(np.zeros((1, 3, 5, 5)), np.zeros((8, 3, 3, 3)), pad=(1, -1)),
            "conv2d: pad must be an int >= 0 or a pair of them (height, width), got (1, -1)",
        ),
        (
            lambda: deconv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3))),
            "deconv2d: x has 3 channels but W expects 4 (W shape (4, 2, 3, 3); deconv2d's W "
            "is (in_channels, out_channels, KH, KW))",
        ),
        (
            lambda: deconv2d(np.zeros((1, 3, 5, 5)), np.zeros((3, 2, 3, 3)), outsize=(9, 7)),
            "deconv2d: outsize (9, 7) is impossible for x shape (1, 3, 5, 5), W shape "
            "(3, 2, 3, 3), stride (1, 1) and pad (0, 0): each side must be at least (7, 7) "
            "and less than that plus the stride",
        ),
        (
            lambda: deconv2d(np.zeros((1, 3, 1, 1)), np.zeros((3, 2, 1, 1)), pad=1),
            "deconv2d: pad (1, 1) crops away the whole -1x-1 output",
        ),
        (
            lambda: pooling(np.zeros((1, 1, 5, 5)), 3, pad=2),
            "pooling: pad (2, 2) must be at most half the kernel size (3, 3) on each side "
            "(as in PyTorch)",
        ),
        (
            lambda: average_pooling(np.zeros((1, 1, 2, 5)), 3),
            "average_pooling: a 3x3 window does not fit in the 2x5 input padded by (0, 0) "
            "(x shape (1, 1, 2, 5))",
        ),
        (
            lambda: pooling(np.zeros((5, 5)), 2),
            "pooling: x must be 4-D (N, C, H, W), got shape (5, 5)",
        ),
        (
            lambda: col2im(np.zeros((1, 1, 2, 2, 3, 3)), (1, 1, 5, 5), 2, to_matrix=False),
            "col2im: col has shape (1, 1, 2, 2, 3, 3), but an image of shape (1, 1, 5, 5) "
            "with kernel (2, 2), stride (1, 1) and pad (0, 0) gives cols of shape "
            "(1, 1, 2, 2, 4, 4)",
        ),
    ],
)
def test_errors_name_the_op_and_the_shapes(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_ops_are_registered_with_their_conventions() -> None:
    registry = get_registry()
    orders = {name: registry.get(name).order for name in ("conv2d", "deconv2d", "pooling")}
    assert orders == {"conv2d": 3, "deconv2d": 3, "pooling": 3}
    assert registry.get("pooling").ties == "first"
    assert registry.get("pooling").domains[0].distinct
    for name in ("conv2d", "deconv2d"):  # the bias is an optional input: one op, 2-3 inputs
        assert (registry.get(name).arity, registry.get(name).optional) == (3, 1)


def test_samplers_draw_valid_cases() -> None:
    """Every sampler's cases run forward, for many random draws."""

    registry = get_registry()
    names = ["conv2d", "deconv2d", "pooling", "average_pooling", "im2col", "col2im"]
    for name, seed in itertools.product(names, range(200)):
        opdef = registry.get(name)
        assert opdef.sample is not None
        case = opdef.sample(NumpyDraw(seed, opdef.domains[0]))
        assert len(case.inputs) == opdef.arity
        assert all(x.size <= 64 for x in case.inputs)  # the checker's MAX_SIZE
        opdef(*case.inputs, **case.params)
        if opdef.optional:  # and without the optional bias
            opdef(*case.inputs[: opdef.min_arity], **case.params)
        if name == "pooling":
            (x,) = case.inputs
            assert len(np.unique(x)) == x.size


def test_conv2d_on_an_image_batch_given_as_an_array_skips_only_its_gradient() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    w = Variable(rng.standard_normal((4, 3, 3, 3)))
    b = Variable(rng.standard_normal(4))
    y = conv2d(x, w, b, stride=1, pad=1)
    assert y.creator is not None
    assert y.creator.needs_input_grad == (False, True, True)
    y.backward()
    assert w.grad is not None
    assert b.grad is not None
    xv = Variable(x)
    w2, b2 = Variable(w.data), Variable(b.data)
    conv2d(xv, w2, b2, stride=1, pad=1).backward()
    assert w2.grad is not None
    assert b2.grad is not None
    np.testing.assert_allclose(w.grad.data, w2.grad.data)
    np.testing.assert_allclose(b.grad.data, b2.grad.data)
    assert xv.grad is not None
