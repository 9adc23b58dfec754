"""Max and average pooling (NCHW): loops over the KH*KW kernel offsets, each step one
strided slice of the padded image (im2col fused with the reduction, so no KH*KW-times larger
array is built). Max pooling's backward is a scatter to each window's maximum and the
scatter's backward the matching gather: two linear Functions, each the other's adjoint, so
derivatives of every order work."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from dezero_ext import Array, Case, Draw, Function, Operand, OpSet, Variable
from dezero_ext.ops import broadcast_to, reshape
from dezero_ext.ops.helpers import linear_jvp, linear_jvp_array
from dezero_ext_nn._batched import chunks
from dezero_ext_nn._sampling import POOL_X, X, half, spread_distinct, window_params
from dezero_ext_nn.references import average_pooling_reference, pooling_reference
from dezero_ext_nn.sliding import (
    Col2im,
    Pair,
    check_4d,
    col2im_array,
    conv_outsize,
    pad_array,
    pair,
    windows,
)

__all__ = ["AveragePooling", "Pooling", "average_pooling", "ops", "pooling"]

ops = OpSet()


class _PoolingBase(Function):
    saves_inputs = saves_output = False  # backward reads the input's shape (and argmaxes)

    op_name = "pooling"

    def __init__(
        self, kernel_size: int | Pair, stride: int | Pair = 1, pad: int | Pair = 0
    ) -> None:
        op = self._label()
        self.kernel = pair(kernel_size, "kernel_size", op, 1)
        self.stride = pair(stride, "stride", op, 1)
        self.pad = pair(pad, "pad", op, 0)
        if any(p > k // 2 for p, k in zip(self.pad, self.kernel, strict=True)):
            raise ValueError(
                f"{op}: pad {self.pad} must be at most half the kernel size {self.kernel} on "
                "each side (as in PyTorch), so that every window covers part of the input"
            )

    def _check(self, x: Array) -> None:
        op = self._label()
        check_4d(x, "x", op, "(N, C, H, W)")
        (kh, kw), (ph, pw) = self.kernel, self.pad
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(
                f"{op}: a {kh}x{kw} window does not fit in the {x.shape[2]}x{x.shape[3]} input "
                f"padded by {self.pad} (x shape {x.shape})"
            )

    def _outsize(self, x: Array) -> Pair:
        (h, w), (kh, kw), (sh, sw), (ph, pw) = x.shape[2:], self.kernel, self.stride, self.pad
        return conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw)


def _out_pair(y: Array) -> Pair:
    return y.shape[2], y.shape[3]


def _sample_pooling(draw: Draw) -> Case:
    shape, params = window_params(draw, 3, half)
    return Case((spread_distinct(draw.array(shape, POOL_X), POOL_X),), params)


@ops.declare(
    "pooling",
    domains=POOL_X,
    sample=_sample_pooling,
    order=3,
    ties="first",
    description="max pooling, NCHW, kernel_size, stride, pad (-inf padding)",
    reference=pooling_reference,
)
class Pooling(_PoolingBase):
    """Max pooling: the largest element of each window (padding never wins). On a tie the
    first maximum in the window (row-major order) gets the gradient."""

    def forward(self, x: Array) -> Array:
        self._check(x)
        self.x_shape = x.shape
        y, self.indexes = _max_pool(x, self.kernel, self.stride, self.pad, self._outsize(x))
        return y

    def backward(self, gy: Variable) -> Variable:
        return _MaxScatter(self.indexes, self.kernel, self.stride, self.pad, self.x_shape)(gy)

    def backward_array(self, gy: Array) -> Array:
        return _max_scatter(gy, self.indexes, self.kernel, self.stride, self.pad, self.x_shape)

    def jvp(self, tx: Variable) -> Variable:
        # the tangent at each window's recorded maximum (linear in tx, as _MaxGather)
        return _MaxGather(self.indexes, self.kernel, self.stride, self.pad)(tx)

    def jvp_array(self, tx: Array) -> Array:
        return _MaxGather(self.indexes, self.kernel, self.stride, self.pad).forward(tx)


def pooling(
    x: Operand, kernel_size: int | Pair, stride: int | Pair = 1, pad: int | Pair = 0
) -> Variable:
    """Max pooling over ``kernel_size`` windows of ``x`` (N, C, H, W) (DeZero's name and
    defaults: ``stride=1``). Padding never wins a window (it is -inf, as in PyTorch);
    ``pad`` is at most half the kernel. Ties: the first maximum in a window gets the
    gradient."""
    return Pooling(kernel_size, stride, pad)(x)


def _image_chunks(shape: tuple[int, ...], dtype: np.dtype[Any]) -> Iterator[slice]:
    """A few images at a time (about half a convolution chunk of input each): pooling makes
    several passes over a chunk and its temporaries, which then stay in the CPU's cache
    (3x faster than whole-batch passes at 16 MiB)."""
    return chunks(shape[0], 2 * math.prod(shape[1:]) * dtype.itemsize)


def _max_pool(x: Array, kernel: Pair, stride: Pair, pad: Pair, out: Pair) -> tuple[Array, Array]:
    """Each window's maximum and its offset in the window (see ``_max_windows``)."""
    y = np.empty((*x.shape[:2], *out), dtype=x.dtype)
    indexes = np.empty(y.shape, dtype=np.min_scalar_type(kernel[0] * kernel[1]))
    for s in _image_chunks(x.shape, x.dtype):
        _max_windows(pad_array(x[s], pad, -np.inf), kernel, stride, y[s], indexes[s])
    return y, indexes


def _max_windows(xp: Array, kernel: Pair, stride: Pair, y: Array, indexes: Array) -> None:
    """Into ``y``, each window's maximum; into ``indexes``, its offset among the window's
    KH*KW (row-major): the first that is strictly larger than those before it, so on a tie
    the first maximum; a NaN wins only as a window's first element."""
    offsets = windows(kernel, stride, _out_pair(y))
    _, _, (rows, cols) = next(offsets)
    first = xp[:, :, rows, cols]
    np.copyto(y, first)
    indexes.fill(0)
    better, candidate = np.empty(y.shape, dtype=bool), np.empty_like(indexes)
    # ufuncs with out= only: a masked copy (copyto where=) costs several times more
    for k, (_, _, (rows, cols)) in enumerate(offsets, start=1):
        view = xp[:, :, rows, cols]
        np.greater(view, y, out=better)  # strictly: on a tie the first maximum stays
        np.fmax(y, view, out=y)  # the larger, so view where better; a NaN in view never wins
        # k grows, so the last offset that was better is the largest of k * better
        np.maximum(indexes, np.multiply(better, indexes.dtype.type(k), out=candidate), out=indexes)
    if y.dtype.kind == "f":  # a NaN first element stays its window's maximum (as `>` says)
        nan = np.isnan(first)
        if nan.any():
            y[nan], indexes[nan] = first[nan], 0


_BITS: dict[int, type[np.unsignedinteger[Any]]] = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _max_scatter(
    gy: Array, indexes: Array, kernel: Pair, stride: Pair, pad: Pair, x_shape: tuple[int, ...]
) -> Array:
    """Each window's gradient added to the element that was its maximum."""
    _, c, h, w = x_shape
    (ph, pw), (oh, ow) = pad, _out_pair(indexes)
    # Windows that do not overlap (stride >= kernel) write each element at most once; when
    # they also tile the image, every element exactly once, and gx needs no zeros first.
    disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
    bits = _BITS.get(gy.dtype.itemsize) if gy.dtype.kind == "f" else None
    tiled = stride == kernel and pad == (0, 0) and (h, w) == (oh * kernel[0], ow * kernel[1])
    gx = (
        np.empty(x_shape, dtype=gy.dtype)
        if tiled and bits is not None
        else np.zeros(x_shape, gy.dtype)
    )
    for s in _image_chunks(x_shape, gy.dtype):
        if pad == (0, 0):
            _scatter_maxima(gy[s], indexes[s], kernel, stride, gx[s], disjoint, bits)
            continue
        padded = np.zeros((s.stop - s.start, c, h + 2 * ph, w + 2 * pw), dtype=gy.dtype)
        _scatter_maxima(gy[s], indexes[s], kernel, stride, padded, disjoint, bits)
        gx[s] = padded[:, :, ph : ph + h, pw : pw + w]
    return gx


def _scatter_maxima(
    gy: Array,
    indexes: Array,
    kernel: Pair,
    stride: Pair,
    gx: Array,
    disjoint: bool,
    bits: type[np.unsignedinteger[Any]] | None,
) -> None:
    """Add (write, when ``disjoint``) each window's gradient into the padded ``gx`` at its
    maximum."""
    out = _out_pair(indexes)
    mask = np.empty(gy.shape, dtype=bool)
    if bits is None:  # float16 is 2 bytes; this is for longdouble and the like
        for k, (_, _, (rows, cols)) in enumerate(windows(kernel, stride, out)):
            view = gx[:, :, rows, cols]
            np.add(view, gy, out=view, where=np.equal(indexes, k, out=mask))
        return
    # gy where the maximum sits at offset k, else +0.0: a bitwise AND with all-ones or
    # all-zeros words, exact (NaN, inf and -0.0 kept, unlike gy * mask) and several times
    # faster than NumPy's masked copy or add (where=)
    ones, part = np.empty(gy.shape, dtype=bits), np.empty(gy.shape, dtype=bits)
    gy_bits, all_ones = gy.view(bits), np.invert(np.zeros((), dtype=bits))
    for k, (_, _, (rows, cols)) in enumerate(windows(kernel, stride, out)):
        view = gx[:, :, rows, cols]
        np.multiply(np.equal(indexes, k, out=mask), all_ones, out=ones)
        if disjoint:
            np.bitwise_and(gy_bits, ones, out=view.view(bits))
        else:
            np.add(view, np.bitwise_and(gy_bits, ones, out=part).view(gy.dtype), out=view)


class _MaxScatter(Function):
    """gy (N, C, OH, OW) -> gx (N, C, H, W): each window's gradient goes to its maximum
    (windows that overlap add up). Linear in gy; its adjoint and backward is ``_MaxGather``."""

    op_name = "pooling"

    def __init__(
        self, indexes: Array, kernel: Pair, stride: Pair, pad: Pair, x_shape: tuple[int, ...]
    ) -> None:
        self.indexes, self.kernel, self.stride, self.pad = indexes, kernel, stride, pad
        self.x_shape = x_shape

    def forward(self, gy: Array) -> Array:
        return _max_scatter(gy, self.indexes, self.kernel, self.stride, self.pad, self.x_shape)

    def backward(self, ggx: Variable) -> Variable:
        return _MaxGather(self.indexes, self.kernel, self.stride, self.pad)(ggx)


class _MaxGather(Function):
    """x (N, C, H, W) -> (N, C, OH, OW): the element of ``x`` at each window's (recorded)
    maximum. Linear in x; its backward is ``_MaxScatter``."""

    op_name = "pooling"

    def __init__(self, indexes: Array, kernel: Pair, stride: Pair, pad: Pair) -> None:
        self.indexes, self.kernel, self.stride, self.pad = indexes, kernel, stride, pad

    def forward(self, x: Array) -> Array:
        xp = pad_array(x, self.pad)  # the recorded maxima never sit in the padding
        y = np.empty(self.indexes.shape, dtype=x.dtype)
        for k, (_, _, (rows, cols)) in enumerate(windows(self.kernel, self.stride, _out_pair(y))):
            np.copyto(y, xp[:, :, rows, cols], where=self.indexes == k)
        return y

    def backward(self, gy: Variable) -> Variable:
        x = self.inputs[0]
        return _MaxScatter(self.indexes, self.kernel, self.stride, self.pad, x.shape)(gy)


def _sample_average_pooling(draw: Draw) -> Case:
    shape, params = window_params(draw, 3, half)
    return Case((draw.array(shape, X),), params)


@ops.declare(
    "average_pooling",
    domains=X,
    sample=_sample_average_pooling,
    order=3,
    description="average pooling, NCHW, kernel_size, stride, pad (zeros counted)",
    reference=average_pooling_reference,
)
class AveragePooling(_PoolingBase):
    """The mean of each window; padding counts as zeros (PyTorch's ``count_include_pad``)."""

    def forward(self, x: Array) -> Array:
        self._check(x)
        self.x_shape = x.shape
        xp = pad_array(x, self.pad)
        offsets = windows(self.kernel, self.stride, self._outsize(x))
        _, _, (rows, cols) = next(offsets)
        y: Array = xp[:, :, rows, cols].copy()
        for _, _, (rows, cols) in offsets:
            y += xp[:, :, rows, cols]
        y *= 1.0 / (self.kernel[0] * self.kernel[1])
        return y

    def backward(self, gy: Variable) -> Variable:
        n, c, oh, ow = gy.shape
        kh, kw = self.kernel
        g = reshape(gy * (1.0 / (kh * kw)), (n, c, 1, 1, oh, ow))
        gcol = broadcast_to(g, (n, c, kh, kw, oh, ow))
        return Col2im(self.x_shape, self.kernel, self.stride, self.pad)(gcol)

    def backward_array(self, gy: Array) -> Array:
        n, c, oh, ow = gy.shape
        kh, kw = self.kernel
        g = gy * (1.0 / (kh * kw))
        size = (self.x_shape[2], self.x_shape[3])
        if self.stride == self.kernel and self.pad == (0, 0) and size == (oh * kh, ow * kw):
            # the windows tile the image: each element gets its window's share, repeated
            # along each axis (4x faster than copying a broadcast view, whose innermost
            # runs are KW elements long)
            return np.repeat(np.repeat(g, kw, axis=3), kh, axis=2)
        gcol = np.broadcast_to(g.reshape(n, c, 1, 1, oh, ow), (n, c, kh, kw, oh, ow))
        return col2im_array(gcol, size, self.stride, self.pad)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def average_pooling(
    x: Operand, kernel_size: int | Pair, stride: int | Pair = 1, pad: int | Pair = 0
) -> Variable:
    """Average pooling over ``kernel_size`` windows of ``x`` (N, C, H, W); padding counts as
    zeros in the mean (PyTorch's default ``count_include_pad=True``)."""
    return AveragePooling(kernel_size, stride, pad)(x)
