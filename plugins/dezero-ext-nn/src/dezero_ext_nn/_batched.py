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
"""At most one chunk's windows: small enough for a core's cache, large enough that the loop's
own cost (a few NumPy calls per chunk) stays small next to the work."""


def chunks(n: int, item_bytes: int) -> Iterator[slice]:
    """Slices of ``range(n)`` holding about ``CHUNK_BYTES // item_bytes`` items each, or an
    eighth of the batch when that is less (but not under a quarter of ``CHUNK_BYTES``): the
    reused buffers are then a small part of a small batch's memory (with 2 MiB chunks the
    decoder block of benchmark W10 peaked at 2.1x PyTorch's memory at batch 32), and large
    batches keep chunks of several images (a 16-channel 32x32 image's windows are 590 KiB;
    one per chunk was 15% slower)."""
    limit = min(CHUNK_BYTES, max(CHUNK_BYTES // 4, n * item_bytes // 8))
    step = max(1, limit // max(item_bytes, 1))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


SMALL_PRODUCT = 10**6
"""OpenBLAS (0.3.x on x86-64 with AVX-512) multiplies matrices of M*N*K up to 10**6 by its
small-matrix kernels, which skip packing the operands: 1.4x the speed of its general path on
a 3x3 convolution's 16 x 144 by 144 x 1,088 product (float32 and float64 alike)."""


def product(a: Array, b: Array, out: Array) -> None:
    """``out[i] = a @ b[i]`` for a (M, K) and b (m, K, N), the columns of each ``b[i]`` taken
    in blocks small enough for OpenBLAS's small-matrix kernels (``SMALL_PRODUCT``). Each
    column of the result is the same dot products either way."""
    m, k, n = b.shape
    block = max(1, SMALL_PRODUCT // max(a.shape[0] * k, 1))
    if block >= n or m == 0:
        np.matmul(a, b, out=out)
        return
    blocks = n // block
    full = blocks * block
    (b0, b1, b2), (o0, o1, o2) = b.strides, out.strides
    np.matmul(
        a,
        as_strided(b, (m, blocks, k, block), (b0, block * b2, b1, b2), writeable=False),
        out=as_strided(out, (m, blocks, a.shape[0], block), (o0, block * o2, o1, o2)),
    )
    if full < n:
        np.matmul(a, b[:, :, full:], out=out[:, :, full:])


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

    def columns(self, name: str, m: int, length: int | None = None) -> Array:
        """A reused buffer of ``m`` items of windows (m, C, KH, KW, OH, OW) (or rows of
        ``length`` for (m, C, KH, KW, length)), each row a few bytes longer when its length is
        a multiple of 1 KiB: matrices whose rows are 4 KiB apart map onto the same cache sets,
        which made OpenBLAS's products 1.7x slower (a row of 32x32 float32 pixels). A
        (m, C*KH*KW, rows) view of it is a matrix BLAS takes as it is."""
        (c, kh, kw, oh, ow), size = self.col_shape, self.dtype.itemsize
        shape = (c, kh, kw, oh, ow) if length is None else (c, kh, kw, length)
        rows, length = c * kh * kw, oh * ow if length is None else length
        stride = length + 64 // size if (length * size) % 1024 == 0 else length
        return self.buffer(name, (rows, stride), m)[:, :, :length].reshape(m, *shape)

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

    def wide_input(self, m: int) -> Array:
        """The inside of the padded buffer ``gather_wide`` reads, for ``m`` images: a caller
        may write the images there itself and call ``gather_wide(None)``."""
        (ph, pw), (h, w) = self.pad, self.size
        # one image more than the chunk: the windows of the last image's last channel run
        # KW - 1 elements past its end
        padded = self.buffer("wide", self.padded_shape, m + 1, self.fill)
        return padded[:m, :, ph : ph + h, pw : pw + w]

    def gather_wide(self, x: Array | None, m: int = 0) -> Array:
        """Stride 1 only: the windows of the chunk ``x`` (or of the ``m`` images already in
        ``wide_input(m)``) as a matrix (m, C*KH*KW, OH*WP), WP the padded width: every window
        of a padded row is gathered, also the KW - 1 that overhang its right edge (columns
        OW..WP-1 of each output row, values of the image's neighbouring pixels or the fill).
        A window row is then one contiguous run of the flat padded image, so the copy moves
        runs of OH*WP elements instead of OW: about 2x faster than ``gather``. Products with
        it give OH x WP outputs per image, whose last KW - 1 columns the caller drops."""
        if x is not None:
            m = x.shape[0]
            self.wide_input(m)[...] = x
        padded = self.buffer("wide", self.padded_shape, m + 1, self.fill)
        (c, hp, wp), (kh, kw), (oh, _) = self.padded_shape, self.kernel, self.out
        e, plane = padded.itemsize, hp * wp
        view = as_strided(
            padded,
            (m, c, kh, kw, oh * wp),
            (c * plane * e, plane * e, wp * e, e, e),
            writeable=False,
        )
        col = self.columns("wide col", m, oh * wp)
        np.copyto(col, view)
        return col.reshape(m, c * kh * kw, oh * wp)

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


def conv_forward(x: Array, w: Array, stride: Pair, pad: Pair, b: Array | None = None) -> Array:
    """``conv2d(x, w)`` (N, C, H, W) * (OC, C, KH, KW) -> (N, OC, OH, OW), plus ``b`` (OC,)
    when given (``b`` must not change the result's dtype)."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    dtype = np.result_type(x, w)
    win = Windows((c, h, wd), (kh, kw), stride, pad, dtype)
    ckk, (oh, ow) = c * kh * kw, win.out
    y = np.empty((n, oc, oh, ow), dtype=dtype)
    b4 = None if b is None else b.reshape(1, oc, 1, 1)
    if stride != (1, 1):
        y3, w2 = y.reshape(n, oc, oh * ow), w.reshape(oc, ckk)
        for s in win.slices(n):
            col = win.gather(x[s])
            product(w2, col.reshape(s.stop - s.start, ckk, oh * ow), y3[s])
        return y if b4 is None else np.add(y, b4, out=y)
    for s, inside in stride1_chunks(x, w, win):
        if b4 is None:
            y[s] = inside
        else:  # the bias added on the way out, while the chunk is in cache
            np.add(inside, b4, out=y[s])
    return y


def stride1_chunks(x: Array, w: Array, win: Windows) -> Iterator[tuple[slice, Array]]:
    """The stride-1 convolution of ``x`` with ``w`` (OC, C, KH, KW) over ``win``'s windows,
    a chunk of images at a time: each chunk's slice of the batch and its result
    (m, OC, OH, OW), a view valid until the next chunk."""
    oc, c, kh, kw = w.shape
    w2, wp, (oh, ow) = w.reshape(oc, c * kh * kw), win.padded_shape[2], win.out
    for s in win.slices(x.shape[0]):
        m = s.stop - s.start
        wide = win.buffer("wide y", (oc, oh * wp), m)
        product(w2, win.gather_wide(x[s]), wide)
        yield s, wide.reshape(m, oc, oh, wp)[:, :, :, :ow]  # the overhanging windows dropped


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
            product(w2t, gy3[s], gcol.reshape(s.stop - s.start, ckk, oh * ow))
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
        product(w2t, x3[s], gcol.reshape(s.stop - s.start, okk, h * wd))
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
        product(w2, gcol, gx3[s])
        gwt += np.matmul(gcol, x3[s].transpose(0, 2, 1)).sum(axis=0)
    return gx, np.ascontiguousarray(gwt.T).reshape(w.shape)
