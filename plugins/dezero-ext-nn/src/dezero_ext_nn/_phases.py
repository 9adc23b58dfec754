"""The transposed convolution as a stride-1 convolution, one output channel per phase.

``deconv2d`` with stride (SH, SW) scatters each input pixel's KH x KW patch onto the output
SH, SW pixels apart, so the patches overlap and the scatter adds KH*KW strided slices into
every output chunk. Seen from the output instead, the pixels of one phase (``Y % SH, X % SW``
fixed) each gather the same taps of the kernel from a small window of the input: a window of
``T = ceil(K / S)`` input pixels per axis. All SH*SW phases together are one stride-1
convolution of the input, padded by ``T - 1``, with a kernel of SH*SW*OC output channels
(``phase_kernel``); the products then sum the taps, and the output is the phases
interleaved (``interleave``). With K a multiple of S (4x4 kernels at stride 2) no tap of that
kernel is zero and the products are as many as the scatter's.

The backward is that convolution's backward: the output gradient de-interleaved into phases,
the input gradient a stride-1 convolution of it with the flipped phase kernel, the kernel's
gradient the phase kernel's folded back.
"""

from __future__ import annotations

import numpy as np

from dezero_ext import Array
from dezero_ext_nn._batched import Pair, Windows, product, stride1_chunks


def taps(kernel: Pair, stride: Pair) -> Pair:
    """The input window of one output phase, per axis: ``ceil(K / S)``."""
    return -(-kernel[0] // stride[0]), -(-kernel[1] // stride[1])


def usable(kernel: Pair, stride: Pair, *arrays: Array) -> bool:
    """Whether to compute by phases: the phase kernel holds at most twice the taps of the
    kernel (its extra taps are zeros, multiplied all the same), and ``arrays`` (the input, and
    in backward the output gradient) are finite. An inf or NaN would meet those zero taps,
    and the padding's zeros, in products the scatter never forms (inf * 0 = NaN)."""
    th, tw = taps(kernel, stride)
    if stride[0] * stride[1] * th * tw > 2 * kernel[0] * kernel[1]:
        return False
    # a finite sum means finite elements (an inf or NaN makes it inf or NaN); a sum that
    # overflows only costs the fast path
    with np.errstate(over="ignore", invalid="ignore"):
        return all(bool(np.isfinite(np.sum(a))) for a in arrays)


def _tap_index(kernel: Pair, stride: Pair) -> tuple[Array, Array, Array, Array]:
    """For kernel rows i and columns j: their phase (i % S) and window offset (T-1 - i // S),
    shaped to index a (SH, SW, OC, C, TH, TW) array into (KH, KW, OC, C)."""
    (kh, kw), (sh, sw), (th, tw) = kernel, stride, taps(kernel, stride)
    i, j = np.arange(kh)[:, None], np.arange(kw)[None, :]
    return i % sh, j % sw, th - 1 - i // sh, tw - 1 - j // sw


def phase_kernel(w: Array, stride: Pair) -> Array:
    """deconv2d's ``w`` (C, OC, KH, KW) -> the phase convolution's (SH*SW*OC, C, TH, TW):
    output channel (rh, rw, o) at window offset (a, b) holds ``w[:, o, i, j]`` with
    ``i = rh + SH*(TH-1-a)`` (and j alike), or zero where that is past the kernel."""
    c, oc, kh, kw = w.shape
    (sh, sw), (th, tw) = stride, taps((kh, kw), stride)
    big = np.zeros((sh, sw, oc, c, th, tw), dtype=w.dtype)
    rh, rw, a, b = _tap_index((kh, kw), stride)
    big[rh, rw, :, :, a, b] = w.transpose(2, 3, 1, 0)
    return big.reshape(sh * sw * oc, c, th, tw)


def fold_kernel(gbig: Array, kernel: Pair, stride: Pair) -> Array:
    """The adjoint of ``phase_kernel``: (SH*SW*OC, C, TH, TW) -> (C, OC, KH, KW)."""
    (sh, sw), (th, tw) = stride, taps(kernel, stride)
    oc, c = gbig.shape[0] // (sh * sw), gbig.shape[1]
    rh, rw, a, b = _tap_index(kernel, stride)
    picked = gbig.reshape(sh, sw, oc, c, th, tw)[rh, rw, :, :, a, b]  # (KH, KW, OC, C)
    return np.ascontiguousarray(picked.transpose(3, 2, 0, 1))


def _phase_rows(r: int, s: int, p: int, out: int, q: int) -> tuple[slice, slice, bool]:
    """Phase ``r`` of one axis: the output pixels it holds (a strided slice), the phase
    image's pixels they come from, and whether the phase image reaches every one of them."""
    first = (r - p) % s  # the first output pixel y with (y + p) % s == r
    start = (first + p) // s
    wanted = len(range(first, out, s))
    count = max(0, min(wanted, q - start))
    return slice(first, first + s * count, s), slice(start, start + count), count == wanted


Cut = tuple[slice, slice]


def _phases(stride: Pair, pad: Pair, out: Pair, q: Pair) -> list[tuple[int, Cut, Cut, bool]]:
    """Per phase (rh, rw): its index among the SH*SW, output and phase-image slices, and
    whether the output slices are all of that phase's pixels."""
    found: list[tuple[int, Cut, Cut, bool]] = []
    for rh in range(stride[0]):
        rows, qrows, full_h = _phase_rows(rh, stride[0], pad[0], out[0], q[0])
        for rw in range(stride[1]):
            cols, qcols, full_w = _phase_rows(rw, stride[1], pad[1], out[1], q[1])
            found.append((rh * stride[1] + rw, (rows, cols), (qrows, qcols), full_h and full_w))
    return found


def deconv_forward(
    x: Array, w: Array, stride: Pair, pad: Pair, out: Pair, b: Array | None = None
) -> Array:
    """``deconv2d(x, w)`` (+ ``b``, which must not change the dtype) by phases."""
    n, c, h, wd = x.shape
    oc = w.shape[1]
    dtype = np.result_type(x, w)
    th, tw = taps(w.shape[2:], stride)
    win = Windows((c, h, wd), (th, tw), (1, 1), (th - 1, tw - 1), dtype)
    phases = _phases(stride, pad, out, win.out)
    y = np.empty((n, oc, *out), dtype=dtype)
    b4 = None if b is None else b.reshape(1, oc, 1, 1)
    for s, image in stride1_chunks(x, phase_kernel(w, stride), win):
        target = y[s]
        if not all(full for *_, full in phases):  # pixels no input reaches (outsize)
            target[...] = 0 if b4 is None else b4
        for k, (rows, cols), (qrows, qcols), _ in phases:
            part = image[:, k * oc : (k + 1) * oc, qrows, qcols]
            if b4 is None:
                target[:, :, rows, cols] = part
            else:
                np.add(part, b4, out=target[:, :, rows, cols])
    return y


def deconv_backward(gy: Array, x: Array, w: Array, stride: Pair, pad: Pair) -> tuple[Array, Array]:
    """deconv2d's gradients (gx, gW) by phases (``x`` and ``gy`` finite): both products read
    the windows of the phase gradient, gathered once per chunk."""
    n, c, h, wd = x.shape
    oc, kernel = w.shape[1], (w.shape[2], w.shape[3])
    dtype = np.result_type(gy, x, w)
    (th, tw), so = taps(kernel, stride), stride[0] * stride[1] * oc
    qh, qw = h + th - 1, wd + tw - 1  # the phase images' size
    win = Windows((so, qh, qw), (th, tw), (1, 1), (0, 0), dtype)
    phases = _phases(stride, pad, (gy.shape[2], gy.shape[3]), (qh, qw))
    flipped = phase_kernel(w, stride)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    flipped2 = np.ascontiguousarray(flipped).reshape(c, so * th * tw)
    gx = np.empty((n, c, h, wd), dtype=dtype)
    # the flipped kernel's gradient, transposed: windows @ x^T (the long side first)
    gft = np.zeros((so * th * tw, c), dtype=dtype)
    for s in win.slices(n):
        m = s.stop - s.start
        # the phases of gy; pixels no output reaches keep the buffer's first zeros
        phase_grad = win.wide_input(m)
        for k, (rows, cols), (qrows, qcols), _ in phases:
            phase_grad[:, k * oc : (k + 1) * oc, qrows, qcols] = gy[s, :, rows, cols]
        col = win.gather_wide(None, m)  # (m, SO*TH*TW, H*QW)
        wide = win.buffer("wide y", (c, h * qw), m)
        product(flipped2, col, wide)
        gx[s] = wide.reshape(m, c, h, qw)[:, :, :, :wd]
        # x widened by zero columns meets the windows that overhang each row, whose values
        # (gy's) are finite: exact
        x_wide = win.buffer("x wide", (c, h, qw), m, 0.0)
        x_wide[:, :, :, :wd] = x[s]
        gft += np.matmul(col, x_wide.reshape(m, c, h * qw).transpose(0, 2, 1)).sum(axis=0)
    gbig = gft.T.reshape(c, so, th, tw)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    return gx, fold_kernel(gbig, kernel, stride)
