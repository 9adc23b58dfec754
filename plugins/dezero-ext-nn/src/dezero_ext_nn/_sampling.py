"""Drawing the inputs of the convolution and pooling checks: image shapes within the
checker's size budget, kernels, strides and pads (shared by the samplers beside each op)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dezero_ext import Array, Domain, Draw

Pair = tuple[int, int]

X = Domain(-2.0, 2.0)
W = Domain(-1.5, 1.5)
# Max pooling's inputs are distinct (ties are its only kinks); the sampler spreads the
# elements evenly over [-2, 2], 4/64 apart at least.
POOL_X = Domain(-2.0, 2.0, distinct=True)
BUDGET = 64
"""The most elements a drawn input has (the checker's ``MAX_SIZE``: a full Jacobian, second
order included, stays cheap)."""


def window(draw: Draw, max_kernel: int = 3, max_stride: int = 2) -> tuple[Pair, Pair, bool]:
    """A kernel and a stride; ``square`` says whether ints (not pairs) are passed."""
    square = draw.boolean()
    kh = draw.integer(1, max_kernel)
    kw = kh if square else draw.integer(1, max_kernel)
    sh = draw.integer(1, max_stride)
    sw = sh if square else draw.integer(1, max_stride)
    return (kh, kw), (sh, sw), square


def pad_pair(draw: Draw, most: Pair, square: bool) -> Pair:
    """A pad of at most ``most`` on each axis (the same on both when ``square``)."""
    ph = draw.integer(0, min(most) if square else most[0])
    return ph, ph if square else draw.integer(0, most[1])


def as_param(value: Pair, square: bool) -> int | Pair:
    return value[0] if square else value


def image(draw: Draw, low: int, high: int) -> tuple[int, int, int, int]:
    """(N, C, H, W): batch 1-2, channels 1-3, sides in [low, high], at most BUDGET elements."""
    n, c = draw.integer(1, 2), draw.integer(1, 3)
    h = draw.integer(low, max(low, min(high, BUDGET // (n * c * low))))
    w = draw.integer(low, max(low, min(high, BUDGET // (n * c * h))))
    return n, c, h, w


def out_channels(draw: Draw, c: int, kernel: Pair) -> int:
    return draw.integer(1, min(3, BUDGET // (c * kernel[0] * kernel[1])))


def window_params(
    draw: Draw, max_stride: int, most_pad: Callable[[int], int]
) -> tuple[tuple[int, int, int, int], dict[str, object]]:
    """An image shape and the kernel_size, stride and pad of a sliding-window op."""
    shape = image(draw, 3, 6)
    kernel, stride, square = window(draw, max_stride=max_stride)
    pad = pad_pair(draw, (most_pad(kernel[0]), most_pad(kernel[1])), square)
    params: dict[str, object] = {
        "kernel_size": as_param(kernel, square),
        "stride": as_param(stride, square),
        "pad": as_param(pad, square),
    }
    return shape, params


def half(k: int) -> int:
    return k // 2


def spread_distinct(a: Array, domain: Domain) -> Array:
    """The elements of ``a`` replaced by evenly spaced values in ``domain``, in the same
    order (ties broken by position): all distinct, ``(high - low) / a.size`` apart."""
    ranks = np.empty(a.size)
    ranks[np.argsort(a.ravel(), kind="stable")] = np.arange(a.size)
    spread = domain.low + (domain.high - domain.low) * (ranks + 0.5) / a.size
    return spread.reshape(a.shape).astype(a.dtype)
