"""Independent forwards for the nn ops' ``reference=``: naive loops in Python floats, one
output element at a time, each sum exact (``math.fsum``). Slow and obviously right: the
checker runs them on its small drawn inputs only."""

from __future__ import annotations

import itertools
import math

import numpy as np

from dezero_ext import Array

__all__ = [
    "average_pooling_reference",
    "batch_norm_reference",
    "conv2d_reference",
    "linear_reference",
    "pooling_reference",
]


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def conv2d_reference(
    x: Array,
    w: Array,
    b: Array | None = None,
    stride: int | tuple[int, int] = 1,
    pad: int | tuple[int, int] = 0,
) -> Array:
    """``y[n, o, i, j] = b[o] + sum over c, p, q of x[n, c, i*sh - ph + p, j*sw - pw + q] *
    w[o, c, p, q]``, terms that fall in the zero padding left out."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(pad)
    n_, c_, h, wd = x.shape
    o_, _, kh, kw = w.shape
    oh, ow = _out(h, kh, sh, ph), _out(wd, kw, sw, pw)
    y = np.zeros((n_, o_, oh, ow))
    for n, o, i, j in itertools.product(range(n_), range(o_), range(oh), range(ow)):
        terms = [0.0 if b is None else float(b[o])]
        for c, p, q in itertools.product(range(c_), range(kh), range(kw)):
            r, s = i * sh - ph + p, j * sw - pw + q
            if 0 <= r < h and 0 <= s < wd:
                terms.append(float(x[n, c, r, s]) * float(w[o, c, p, q]))
        y[n, o, i, j] = math.fsum(terms)
    return y


def _windows(
    x: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int],
    pad: int | tuple[int, int],
) -> tuple[tuple[int, ...], list[tuple[tuple[int, int, int, int], list[float], int]]]:
    """Each output position with the window's values inside the input and the window's size."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(pad)
    n_, c_, h, wd = x.shape
    oh, ow = _out(h, kh, sh, ph), _out(wd, kw, sw, pw)
    found = []
    for n, c, i, j in itertools.product(range(n_), range(c_), range(oh), range(ow)):
        values = [
            float(x[n, c, i * sh - ph + p, j * sw - pw + q])
            for p, q in itertools.product(range(kh), range(kw))
            if 0 <= i * sh - ph + p < h and 0 <= j * sw - pw + q < wd
        ]
        found.append(((n, c, i, j), values, kh * kw))
    return (n_, c_, oh, ow), found


def pooling_reference(
    x: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    pad: int | tuple[int, int] = 0,
) -> Array:
    """The largest input element of each window (the padding never wins)."""
    shape, found = _windows(x, kernel_size, stride, pad)
    y = np.zeros(shape)
    for at, values, _ in found:
        y[at] = max(values)
    return y


def average_pooling_reference(
    x: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    pad: int | tuple[int, int] = 0,
) -> Array:
    """Each window's sum over its full size (padding counted as zeros)."""
    shape, found = _windows(x, kernel_size, stride, pad)
    y = np.zeros(shape)
    for at, values, size in found:
        y[at] = math.fsum(values) / size
    return y


def linear_reference(x: Array, w: Array, b: Array | None = None) -> Array:
    """``y[..., o] = b[o] + sum over k of x[..., k] * w[k, o]``."""
    rows = np.asarray(x).reshape(-1, x.shape[-1])
    y = np.zeros((rows.shape[0], w.shape[1]))
    for r, o in itertools.product(range(rows.shape[0]), range(w.shape[1])):
        terms = [float(rows[r, k]) * float(w[k, o]) for k in range(w.shape[0])]
        y[r, o] = math.fsum([0.0 if b is None else float(b[o]), *terms])
    return y.reshape((*x.shape[:-1], w.shape[1]))


def batch_norm_reference(x: Array, gamma: Array, beta: Array, eps: float = 2e-5) -> Array:
    """Train mode, channel by channel: ``gamma * (x - mean) / sqrt(var + eps) + beta`` with
    the batch's mean and biased variance over every axis but 1, each sum exact."""
    y = np.zeros(x.shape)
    for c in range(x.shape[1]):
        values = np.asarray(x)[:, c].reshape(-1).tolist()
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / len(values)
        scale = float(gamma[c]) / math.sqrt(var + eps)
        y[:, c] = (np.asarray(x)[:, c] - mean) * scale + float(beta[c])
    return y
