"""Convolution kernels that walk the batch in chunks: im2col of a few images, their matmul,
then the next few, through buffers reused from chunk to chunk.

The whole batch's im2col is KH*KW times the input (a 3x3 convolution of 16 channels at 32x32
on 1,024 images: 600 MiB in float32). A chunk's windows (about ``CHUNK_BYTES``) stay in the
CPU's cache between their gather and the matmul that reads them, so the gather costs little
and memory stays near the size of the images themselves. The matmuls are the same per-image
products as on the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dezero_ext import Array

Pair = tuple[int, int]

CHUNK_BYTES = 1 << 21
"""About one chunk's windows: small enough for a core's cache, large enough that the loop's
own cost (a few NumPy calls per chunk) stays under a percent of the work."""


def chunks(n: int, item_bytes: int) -> Iterator[slice]:
    """Slices of ``range(n)`` holding about ``CHUNK_BYTES // item_bytes`` items each."""
    step = max(1, CHUNK_BYTES // max(item_bytes, 1))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _outsize(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class Windows:
    """im2col and col2im for chunks of a batch of (C, H, W) images, with reused buffers.

    ``gather(x)`` returns the chunk's windows (m, C, KH, KW, OH, OW) (valid until the next
    call); ``scatter(col, out)`` writes the sum of windows ``col`` back into the image chunk
    ``out`` (overwriting it). The padding of gathered images holds ``fill``.
    """

    def __init__(
        self,
        image: tuple[int, int, int],
        kernel: Pair,
        stride: Pair,
        pad: Pair,
        dtype: np.dtype[np.generic],
        fill: float = 0.0,
    ) -> None:
        c, h, w = image
        self.kernel, self.stride, self.pad, self.dtype, self.fill = kernel, stride, pad, dtype, fill
        self.size = (h, w)
        self.out = (
            _outsize(h, kernel[0], stride[0], pad[0]),
            _outsize(w, kernel[1], stride[1], pad[1]),
        )
        self.col_shape = (c, *kernel, *self.out)
        self.padded_shape = (c, h + 2 * pad[0], w + 2 * pad[1])
        self.item_bytes = int(np.prod(self.col_shape)) * dtype.itemsize
        self._buffers: dict[str, Array] = {}

    def slices(self, n: int) -> Iterator[slice]:
        return chunks(n, self.item_bytes)

    def buffer(self, name: str, shape: tuple[int, ...], m: int, fill: float | None = None) -> Array:
        """A reused buffer of ``m`` items of ``shape``, filled with ``fill`` when made."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < m:
            buf = np.empty((m, *shape), dtype=self.dtype)
            if fill is not None:
                buf.fill(fill)
            self._buffers[name] = buf
        return buf[:m]

    def columns(self, name: str, m: int) -> Array:
        """A reused buffer of ``m`` items of windows (m, C, KH, KW, OH, OW), each row of
        OH*OW a few bytes longer when its length is a multiple of 1 KiB: matrices whose rows
        are 4 KiB apart map onto the same cache sets, which made OpenBLAS's products 1.7x
        slower (a row of 32x32 float32 pixels). A (m, C*KH*KW, OH*OW) view of it is a matrix
        BLAS takes as it is."""
        (c, kh, kw, oh, ow), size = self.col_shape, self.dtype.itemsize
        rows, length = c * kh * kw, oh * ow
        stride = length + 64 // size if (length * size) % 1024 == 0 else length
        return self.buffer(name, (rows, stride), m)[:, :, :length].reshape(m, *self.col_shape)

    def _padded(self, name: str, m: int, fill: float | None) -> tuple[Array, Array]:
        """A padded image buffer of ``m`` images and its inside."""
        (ph, pw), (h, w) = self.pad, self.size
        padded = self.buffer(name, self.padded_shape, m, fill)
        return padded, padded[:, :, ph : ph + h, pw : pw + w]

    def gather(self, x: Array) -> Array:
        m = x.shape[0]
        if self.pad != (0, 0):
            # the border keeps the fill it was made with; only the inside is rewritten
            xp, inside = self._padded("gather", m, self.fill)
            inside[...] = x
        else:
            xp = x
        (sh, sw), (s0, s1, s2, s3) = self.stride, xp.strides
        # the windows as a view: col[n, c, i, j, oy, ox] = xp[n, c, oy*SH + i, ox*SW + j]
        # (as_strided directly: sliding_window_view's checks cost more than a small chunk's copy)
        view = as_strided(
            xp, (m, *self.col_shape), (s0, s1, s2, s3, s2 * sh, s3 * sw), writeable=False
        )
        col = self.columns("col", m)
        np.copyto(col, view)
        return col

    def scatter(self, col: Array, out: Array) -> None:
        m = col.shape[0]
        if self.pad != (0, 0):
            img, inside = self._padded("scatter", m, None)
        else:
            img = inside = out
        img[...] = 0
        (kh, kw), (sh, sw), (oh, ow) = self.kernel, self.stride, self.out
        for i in range(kh):
            rows = slice(i, i + sh * (oh - 1) + 1, sh)
            for j in range(kw):
                img[:, :, rows, j : j + sw * (ow - 1) + 1 : sw] += col[:, :, i, j]
        if img is not out:
            out[...] = inside


def conv_forward(x: Array, w: Array, stride: Pair, pad: Pair) -> Array:
    """``conv2d(x, w)`` without bias: (N, C, H, W) * (OC, C, KH, KW) -> (N, OC, OH, OW)."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    dtype = np.result_type(x, w)
    win = Windows((c, h, wd), (kh, kw), stride, pad, dtype)
    ckk, (oh, ow) = c * kh * kw, win.out
    y = np.empty((n, oc, oh, ow), dtype=dtype)
    y3, w2 = y.reshape(n, oc, oh * ow), w.reshape(oc, ckk)
    for s in win.slices(n):
        col = win.gather(x[s])
        np.matmul(w2, col.reshape(s.stop - s.start, ckk, oh * ow), out=y3[s])
    return y


def conv_backward(
    gy: Array, x: Array, w: Array, stride: Pair, pad: Pair, need_x: bool, need_w: bool
) -> tuple[Array | None, Array | None]:
    """conv2d's gradients (gx, gW) for the output gradient ``gy``; None where not needed."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    dtype = np.result_type(gy, x, w)
    win = Windows((c, h, wd), (kh, kw), stride, pad, dtype)
    ckk, (oh, ow) = c * kh * kw, win.out
    gy3 = gy.reshape(n, oc, oh * ow)
    gx: Array | None = None
    if need_x and stride == (1, 1) and pad[0] < kh and pad[1] < kw:
        # stride 1: gx is the convolution of gy with W flipped, each window a gather (one
        # matmul with a C*KH*KW-deep product) rather than a scatter of KH*KW slices
        flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        gx = conv_forward(gy, flipped, (1, 1), (kh - 1 - pad[0], kw - 1 - pad[1]))
        need_x = False
    elif need_x:
        gx = np.empty((n, c, h, wd), dtype=dtype)
    # gW accumulates transposed, (C*KH*KW, OC) = windows @ gy^T: with the long side first
    # OpenBLAS's float32 product ran 1.75x faster than gy @ windows^T
    gwt = np.zeros((ckk, oc), dtype=dtype) if need_w else None
    w2t = w.reshape(oc, ckk).T
    for s in win.slices(n):
        if not need_x and gwt is None:
            break
        if gwt is not None:
            col = win.gather(x[s]).reshape(s.stop - s.start, ckk, oh * ow)
            gwt += np.matmul(col, gy3[s].transpose(0, 2, 1)).sum(axis=0)
        if need_x:
            assert gx is not None
            gcol = win.columns("gcol", s.stop - s.start)
            np.matmul(w2t, gy3[s], out=gcol.reshape(s.stop - s.start, ckk, oh * ow))
            win.scatter(gcol, gx[s])
    return gx, None if gwt is None else np.ascontiguousarray(gwt.T).reshape(w.shape)


def deconv_forward(x: Array, w: Array, stride: Pair, pad: Pair, out: Pair) -> Array:
    """``deconv2d(x, w)`` without bias: (N, C, H, W) * (C, OC, KH, KW) -> (N, OC, *out)."""
    n, c, h, wd = x.shape
    _, oc, kh, kw = w.shape
    dtype = np.result_type(x, w)
    win = Windows((oc, *out), (kh, kw), stride, pad, dtype)
    okk = oc * kh * kw
    y = np.empty((n, oc, *out), dtype=dtype)
    x3, w2t = x.reshape(n, c, h * wd), w.reshape(c, okk).T
    for s in win.slices(n):
        gcol = win.columns("gcol", s.stop - s.start)
        np.matmul(w2t, x3[s], out=gcol.reshape(s.stop - s.start, okk, h * wd))
        win.scatter(gcol, y[s])
    return y


def deconv_backward(gy: Array, x: Array, w: Array, stride: Pair, pad: Pair) -> tuple[Array, Array]:
    """deconv2d's gradients (gx, gW) for the output gradient ``gy``."""
    n, c, h, wd = x.shape
    _, oc, kh, kw = w.shape
    dtype = np.result_type(gy, x, w)
    win = Windows((oc, gy.shape[2], gy.shape[3]), (kh, kw), stride, pad, dtype)
    okk = oc * kh * kw
    gx = np.empty((n, c, h, wd), dtype=dtype)
    gwt = np.zeros((okk, c), dtype=dtype)  # transposed, as in conv_backward
    gx3, x3, w2 = gx.reshape(n, c, h * wd), x.reshape(n, c, h * wd), w.reshape(c, okk)
    for s in win.slices(n):
        gcol = win.gather(gy[s]).reshape(s.stop - s.start, okk, h * wd)
        np.matmul(w2, gcol, out=gx3[s])
        gwt += np.matmul(gcol, x3[s].transpose(0, 2, 1)).sum(axis=0)
    return gx, np.ascontiguousarray(gwt.T).reshape(w.shape)
