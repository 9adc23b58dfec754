"""The fast paths of convolution and max pooling: conv2d and deconv2d walk the batch in
chunks (``_batched.CHUNK_BYTES``), which the checker's small examples never split; max
pooling's backward masks gradients bitwise. Each is compared with the plain path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from dezero_ext import Array, Variable
from dezero_ext.ops import sum as total
from dezero_ext_nn import _batched
from dezero_ext_nn import _phases as phases
from dezero_ext_nn.conv import conv2d, deconv2d, pooling

Grads = tuple[Array, ...]


def _conv_grads(
    op: Callable[..., Variable], x: Array, w: Array, b: Array, **params: object
) -> Grads:
    xv, wv, bv = Variable(x), Variable(w), Variable(b)
    y = op(xv, wv, bv, **params)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    total(y * gy.astype(y.dtype)).backward()
    assert xv.grad is not None and wv.grad is not None and bv.grad is not None
    return y.data, xv.grad.data, wv.grad.data, bv.grad.data


CASES = [
    (conv2d, (3, 3), {"stride": 1, "pad": 1}),  # stride 1: gx as a convolution of gy
    (conv2d, (2, 3), {"stride": (2, 1), "pad": (1, 0)}),  # gx by scattering windows
    (conv2d, (3, 3), {"stride": 1, "pad": 0}),
    (deconv2d, (4, 4), {"stride": 2, "pad": 1}),
    (deconv2d, (3, 2), {"stride": (1, 2), "pad": (1, 0), "outsize": (6, 11)}),
]


@pytest.mark.parametrize(("op", "kernel", "params"), CASES)
@pytest.mark.parametrize("chunk_bytes", [1, 3000])  # one image per chunk; uneven chunks
def test_chunked_batches_give_what_one_chunk_gives(
    op: Callable[..., Variable],
    kernel: tuple[int, int],
    params: dict[str, object],
    chunk_bytes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 6, 5))
    w_shape = (4, 3, *kernel) if op is conv2d else (3, 4, *kernel)
    w, b = rng.standard_normal(w_shape), rng.standard_normal(4)
    monkeypatch.setattr(_batched, "CHUNK_BYTES", 1 << 30)
    whole = _conv_grads(op, x, w, b, **params)
    monkeypatch.setattr(_batched, "CHUNK_BYTES", chunk_bytes)
    assert len(list(_batched.chunks(5, 3 * 4 * 6 * 5 * 8))) > 1  # the batch is really split
    chunked = _conv_grads(op, x, w, b, **params)
    for got, want in zip(chunked, whole, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", [conv2d, deconv2d])
def test_float32_stays_float32_and_mixed_dtypes_promote(op: Callable[..., Variable]) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)
    b = np.zeros(3, dtype=np.float32)
    assert all(g.dtype == np.float32 for g in _conv_grads(op, x, w, b, pad=1))
    mixed = _conv_grads(op, x, w.astype(np.float64), b, pad=1)
    assert mixed[0].dtype == np.float64
    assert [g.dtype for g in mixed[1:]] == [np.float32, np.float64, np.float32]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
@pytest.mark.parametrize(("kernel", "stride", "pad"), [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_max_pooling_gradient_reaches_only_the_maxima_exactly(
    dtype: type[np.floating[Any]], kernel: int, stride: int, pad: int
) -> None:
    rng = np.random.default_rng(2)
    x = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6).astype(dtype)  # no ties
    xv = Variable(x)
    y = pooling(xv, kernel, stride, pad)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gy.flat[:3] = [np.inf, np.nan, -0.0]  # gy * mask would leak these to every element
    total(y * gy).backward()
    assert xv.grad is not None
    want, hit = np.zeros_like(x), np.zeros(x.shape, dtype=bool)
    n, c, oh, ow = y.shape
    for i, ch, r, s in np.ndindex(n, c, oh, ow):  # each window's gradient to its maximum
        r0, s0 = r * stride - pad, s * stride - pad
        rows, cols = slice(max(r0, 0), r0 + kernel), slice(max(s0, 0), s0 + kernel)
        window = x[i, ch, rows, cols]
        at = np.unravel_index(np.argmax(window), window.shape)
        want[i, ch, rows, cols][at] += gy[i, ch, r, s]
        hit[i, ch, rows, cols][at] = True
    got = xv.grad.data
    assert got.dtype == dtype
    # overlapping windows add in another order than this loop
    eps = float(np.finfo(dtype).eps)
    scale = kernel**2 * float(np.nanmax(np.abs(gy[np.isfinite(gy)])))
    np.testing.assert_allclose(got, want, rtol=8 * eps, atol=8 * eps * scale)
    assert not np.signbit(got[~hit]).any()  # +0.0 where no maximum sat


def test_a_nan_wins_a_max_pooling_window_only_as_its_first_element() -> None:
    x = np.array([[[[np.nan, 1.0, 2.0, np.nan], [0.0, 3.0, 5.0, 4.0]]]])
    xv = Variable(x)
    y = pooling(xv, 2, 2)
    np.testing.assert_array_equal(y.data, [[[[np.nan, 5.0]]]])
    total(y).backward()
    assert xv.grad is not None
    np.testing.assert_array_equal(xv.grad.data, [[[[1.0, 0, 0, 0], [0, 0, 1.0, 0]]]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_windows_rows_a_multiple_of_1_kib_long_are_padded_and_still_right(
    dtype: type[np.floating[Any]],
) -> None:
    # 16x16 windows rows are 1 KiB (float32) or 2 KiB long: their buffer's rows get longer
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 16, 16)).astype(dtype)
    w, b = rng.standard_normal((4, 3, 3, 3)).astype(dtype), np.zeros(4, dtype=dtype)
    y, _, gw, _ = _conv_grads(conv2d, x, w, b, pad=1)
    windows = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), (2, 3))
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)  # as _conv_grads
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    want_y = np.einsum("nchwij,ocij->nohw", windows, w)
    np.testing.assert_allclose(y, want_y, rtol=rtol, atol=rtol * 10)
    want_gw = np.einsum("nohw,nchwij->ocij", gy, windows)
    np.testing.assert_allclose(gw, want_gw, rtol=rtol, atol=rtol * 10)


PHASE_CASES = [  # kernel, stride, pad, extra output rows/cols (outsize), x's H x W
    ((4, 4), (2, 2), (1, 1), (0, 0), (5, 4)),  # the decoder's: no zero taps
    ((3, 3), (2, 2), (0, 0), (1, 1), (4, 5)),  # zero taps; outsize beyond every input's reach
    ((3, 2), (1, 2), (1, 0), (0, 1), (6, 5)),
    ((2, 3), (3, 2), (0, 1), (2, 0), (3, 4)),  # stride > kernel on one axis
    ((1, 1), (1, 1), (0, 0), (0, 0), (3, 3)),
    ((5, 5), (2, 2), (2, 2), (1, 0), (4, 4)),
]


@pytest.mark.parametrize(("kernel", "stride", "pad", "extra", "size"), PHASE_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deconv_by_phases_gives_what_the_scatter_gives(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    extra: tuple[int, int],
    size: tuple[int, int],
    dtype: type[np.floating[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3, *size)).astype(dtype)
    w = rng.standard_normal((3, 2, *kernel)).astype(dtype)
    b = rng.standard_normal(2).astype(dtype)
    oh, ow = (
        s * (n - 1) + k - 2 * p + e
        for s, n, k, p, e in zip(stride, size, kernel, pad, extra, strict=True)
    )
    out = (oh, ow)
    monkeypatch.setattr(_batched, "CHUNK_BYTES", 700)  # a few images per chunk
    y = phases.deconv_forward(x, w, stride, pad, out, b)
    want = _batched.deconv_forward(x, w, stride, pad, out) + b.reshape(1, -1, 1, 1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    for got, expected in zip(
        phases.deconv_backward(gy, x, w, stride, pad),
        _batched.deconv_backward(gy, x, w, stride, pad),
        strict=True,
    ):
        assert got.dtype == expected.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("where", ["x", "gy"])
def test_deconv_with_non_finite_values_takes_the_scatter(where: str) -> None:
    # by phases, an inf would meet zero taps and padding in products the scatter never forms
    # (inf * 0 = NaN where the gradient is inf or finite): deconv2d then scatters
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 3, 3, 3))
    gy = rng.standard_normal((2, 3, 9, 9))
    (x if where == "x" else gy)[0, 1, 3, 3] = np.inf
    assert not phases.usable((3, 3), (2, 2), x, gy)
    assert phases.usable((3, 3), (2, 2), np.ones(3), np.full(3, 1e38, dtype=np.float32))
    xv, wv = Variable(x), Variable(w)
    y = deconv2d(xv, wv, stride=2, pad=0)
    total(y * gy).backward()
    assert xv.grad is not None and wv.grad is not None
    with np.errstate(invalid="ignore"):
        want = _batched.deconv_backward(gy, x, w, (2, 2), (0, 0))
        want_y = _batched.deconv_forward(x, w, (2, 2), (0, 0), (9, 9))
    if where == "x":
        np.testing.assert_array_equal(y.data, want_y)
    else:  # x is finite: the forward goes by phases
        np.testing.assert_allclose(y.data, want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(xv.grad.data, want[0])
    np.testing.assert_array_equal(wv.grad.data, want[1])


@pytest.mark.parametrize("n", [1, 7, 10])
def test_products_in_column_blocks_give_the_plain_product(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3, n))
    monkeypatch.setattr(_batched, "SMALL_PRODUCT", 4 * 3 * 3)  # blocks of 3 columns
    out = np.empty((2, 4, n))
    _batched.product(a, b, out)
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-14)


@pytest.mark.parametrize(("kernel", "stride", "pad"), [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 3, 1)])
def test_max_pooling_in_chunks_gives_what_one_chunk_gives(
    kernel: int, stride: int, pad: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 2, 7, 6))
    x[1, 0, 2, 2], x[3, 1, 0, 0] = np.nan, np.inf

    def run() -> tuple[Array, Array]:
        xv = Variable(x)
        y = pooling(xv, kernel, stride, pad)
        total(y * np.random.default_rng(8).standard_normal(y.shape)).backward()
        assert xv.grad is not None
        return y.data, xv.grad.data

    monkeypatch.setattr(_batched, "CHUNK_BYTES", 1 << 30)
    whole = run()
    monkeypatch.setattr(_batched, "CHUNK_BYTES", 1)  # one image per chunk
    for got, want in zip(run(), whole, strict=True):
        np.testing.assert_array_equal(got, want)


def test_conv2d_with_non_finite_pixels_matches_the_windows_einsum() -> None:
    # the stride-1 gather also reads the pixels next to each row's last window; they must
    # reach only the outputs they belong to
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 5, 6))
    x[0, 1, 2, 5], x[1, 0, 0, 0] = np.inf, np.nan
    w, b = rng.standard_normal((3, 2, 3, 3)), np.zeros(3)
    y = _conv_grads(conv2d, x, w, b, pad=1)[0]
    windows = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), (2, 3))
    with np.errstate(invalid="ignore"):
        want = np.einsum("nchwij,ocij->nohw", windows, w)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
