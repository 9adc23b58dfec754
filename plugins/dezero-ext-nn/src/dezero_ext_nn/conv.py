"""dezero-ext-nn: convolution and pooling on NCHW arrays.

``conv2d``, ``deconv2d`` (the transposed convolution), ``pooling`` (max pooling, DeZero's
name) and ``average_pooling``, with ``im2col``/``col2im`` underneath. Each forward is one
vectorised im2col (or col2im) plus one batched matmul. Each backward is written with
differentiable ops only: the ``Im2col``/``Col2im`` Functions (each the other's adjoint),
``matmul``, ``reshape``, ``transpose``, ``sum`` and ``broadcast_to``. So the gradient of a
gradient is right too; DeZero 0.0.13 gets conv2d's and deconv2d's second derivative
through ``W`` wrong and cannot take max pooling past second order. The pooling Functions
live in ``_pooling``, the im2col kernels in ``_im2col``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dezero_ext import Array, Case, Domain, Draw, Function, OpDef, Operand, Variable
from dezero_ext import is_grad_enabled as _grad_enabled
from dezero_ext.ops import matmul, reshape, sum, transpose  # noqa: A004
from dezero_ext_nn._im2col import (
    Col2im,
    Im2col,
    Pair,
    check_4d,
    check_kernel,
    col2im,
    col2im_array,
    conv_outsize,
    im2col,
    im2col_array,
    pair,
)
from dezero_ext_nn._pooling import AveragePooling, Pooling

__all__ = [
    "AveragePooling",
    "Col2im",
    "Conv2d",
    "Deconv2d",
    "Im2col",
    "Pooling",
    "average_pooling",
    "col2im",
    "conv2d",
    "deconv2d",
    "im2col",
    "ops",
    "pooling",
]

_X_LAYOUT = "(N, C, H, W)"


def _check_bias(b: Array | None, channels: int, w: Array, op: str) -> None:
    if b is not None and b.shape != (channels,):
        raise ValueError(
            f"{op}: b has shape {b.shape} but W has {channels} output channels "
            f"(W shape {w.shape}); b must have shape ({channels},)"
        )


def _add_bias(y: Array, b: Array | None) -> Array:
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _bias_grad(gy: Variable) -> Variable:
    return sum(gy, axis=(0, 2, 3))


class Conv2d(Function):
    """``y = conv2d(x, W[, b])``: x (N, C, H, W), W (OC, C, KH, KW), b (OC,) -> (N, OC, OH, OW)."""

    op_name = "conv2d"

    def __init__(self, stride: int | Pair = 1, pad: int | Pair = 0) -> None:
        self.stride = pair(stride, "stride", "conv2d", 1)
        self.pad = pair(pad, "pad", "conv2d", 0)
        self._col: Array | None = None

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        check_4d(x, "x", "conv2d", _X_LAYOUT)
        check_4d(w, "W", "conv2d", "(out_channels, in_channels, KH, KW)")
        check_kernel(w, "conv2d")
        n, c, h, wd = x.shape
        oc, ic, kh, kw = w.shape
        if c != ic:
            raise ValueError(f"conv2d: x has {c} channels but W expects {ic} (W shape {w.shape})")
        _check_bias(b, oc, w, "conv2d")
        (sh, sw), (ph, pw) = self.stride, self.pad
        oh, ow = conv_outsize(h, kh, sh, ph), conv_outsize(wd, kw, sw, pw)
        if h + 2 * ph < kh or wd + 2 * pw < kw:
            raise ValueError(
                f"conv2d: a {kh}x{kw} kernel (W shape {w.shape}) does not fit in the {h}x{wd} "
                f"input padded by {self.pad} (x shape {x.shape})"
            )
        col = im2col_array(x, (kh, kw), self.stride, self.pad)
        y = np.matmul(w.reshape(oc, c * kh * kw), col.reshape(n, c * kh * kw, oh * ow))
        if _grad_enabled():  # backward needs im2col(x) again: keep it rather than redo it
            self._col = col
        return _add_bias(y.reshape(n, oc, oh, ow), b)

    def backward(self, gy: Variable) -> tuple[Variable | None, ...]:
        x, w = self.inputs[0], self.inputs[1]
        n, c = x.shape[:2]
        oc, _, kh, kw = w.shape
        oh, ow = gy.shape[2], gy.shape[3]
        ckk = c * kh * kw
        gy3 = reshape(gy, (n, oc, oh * ow))
        gx: Variable | None = None
        if self.needs_input_grad[0]:  # an image batch passed as an array needs none
            # gx = col2im(W^T gy): the adjoint of forward's im2col-then-matmul.
            gcol = matmul(transpose(reshape(w, (oc, ckk))), gy3)
            cols = reshape(gcol, (n, c, kh, kw, oh, ow))
            gx = Col2im(x.shape, (kh, kw), self.stride, self.pad)(cols)
        # gW = sum over the batch of gy im2col(x)^T; im2col(x) is a node of the graph, so
        # differentiating gW again reaches x (the term DeZero drops).
        col, self._col = self._col, None
        xcol = Im2col((kh, kw), self.stride, self.pad, result=col)(x)
        gw = sum(matmul(gy3, transpose(reshape(xcol, (n, ckk, oh * ow)), (0, 2, 1))), axis=0)
        gw = reshape(gw, w.shape)
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, _bias_grad(gy)


def _deconv_outsize(h: int, k: int, s: int, p: int) -> int:
    return s * (h - 1) + k - 2 * p


class Deconv2d(Function):
    """The transposed convolution (the gradient of ``conv2d`` w.r.t. its input, as an op):
    x (N, C, H, W), W (C, OC, KH, KW), b (OC,) -> (N, OC, OH, OW) with
    ``OH = stride*(H-1) + KH - 2*pad`` (or ``outsize``, up to ``stride - 1`` more)."""

    op_name = "deconv2d"

    def __init__(
        self, stride: int | Pair = 1, pad: int | Pair = 0, outsize: Pair | None = None
    ) -> None:
        self.stride = pair(stride, "stride", "deconv2d", 1)
        self.pad = pair(pad, "pad", "deconv2d", 0)
        self.outsize = None if outsize is None else pair(outsize, "outsize", "deconv2d", 1)

    def _output_size(self, x: Array, w: Array) -> Pair:
        (h, wd), (kh, kw) = x.shape[2:], w.shape[2:]
        (sh, sw), (ph, pw) = self.stride, self.pad
        smallest = (_deconv_outsize(h, kh, sh, ph), _deconv_outsize(wd, kw, sw, pw))
        if min(smallest) < 1:
            raise ValueError(
                f"deconv2d: pad {self.pad} crops away the whole {smallest[0]}x{smallest[1]} "
                f"output of x shape {x.shape} with W shape {w.shape} and stride {self.stride}"
            )
        if self.outsize is None:
            return smallest
        oh, ow = self.outsize
        if not (smallest[0] <= oh < smallest[0] + sh and smallest[1] <= ow < smallest[1] + sw):
            raise ValueError(
                f"deconv2d: outsize {self.outsize} is impossible for x shape {x.shape}, W shape "
                f"{w.shape}, stride {self.stride} and pad {self.pad}: each side must be at "
                f"least {smallest} and less than that plus the stride"
            )
        return oh, ow

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        check_4d(x, "x", "deconv2d", _X_LAYOUT)
        check_4d(w, "W", "deconv2d", "(in_channels, out_channels, KH, KW)")
        check_kernel(w, "deconv2d")
        n, c, h, wd = x.shape
        ic, oc, kh, kw = w.shape
        if c != ic:
            raise ValueError(
                f"deconv2d: x has {c} channels but W expects {ic} (W shape {w.shape}; "
                "deconv2d's W is (in_channels, out_channels, KH, KW))"
            )
        _check_bias(b, oc, w, "deconv2d")
        out = self._output_size(x, w)
        self.outsize = out  # fixed from here on, so backward's im2col(gy) sees H x W again
        gcol = np.matmul(w.reshape(c, oc * kh * kw).T, x.reshape(n, c, h * wd))
        y = col2im_array(gcol.reshape(n, oc, kh, kw, h, wd), out, self.stride, self.pad)
        return _add_bias(y, b)

    def backward(self, gy: Variable) -> tuple[Variable, ...]:
        x, w = self.inputs[0], self.inputs[1]
        n, c, h, wd = x.shape
        _, oc, kh, kw = w.shape
        okk = oc * kh * kw
        gcol = reshape(Im2col((kh, kw), self.stride, self.pad)(gy), (n, okk, h * wd))
        gx = reshape(matmul(reshape(w, (c, okk)), gcol), x.shape)
        x3 = reshape(x, (n, c, h * wd))
        gw = reshape(sum(matmul(x3, transpose(gcol, (0, 2, 1))), axis=0), w.shape)
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, _bias_grad(gy)


def conv2d(
    x: Operand,
    W: Operand,  # noqa: N803 - DeZero's name
    b: Operand | None = None,
    stride: int | Pair = 1,
    pad: int | Pair = 0,
) -> Variable:
    """2-D convolution (cross-correlation, as in every framework) of ``x`` (N, C, H, W) with
    ``W`` (OC, C, KH, KW), plus ``b`` (OC,) when given; zero padding. Output
    (N, OC, OH, OW), ``OH = (H + 2*pad - KH) // stride + 1``."""
    fn = Conv2d(stride, pad)
    return fn(x, W) if b is None else fn(x, W, b)


def deconv2d(
    x: Operand,
    W: Operand,  # noqa: N803 - DeZero's name
    b: Operand | None = None,
    stride: int | Pair = 1,
    pad: int | Pair = 0,
    outsize: Pair | None = None,
) -> Variable:
    """Transposed convolution of ``x`` (N, C, H, W) with ``W`` (C, OC, KH, KW), plus ``b``
    (OC,): the adjoint of ``conv2d`` with the same stride and pad. Output (N, OC, OH, OW),
    ``OH = stride*(H-1) + KH - 2*pad``, or ``outsize`` (at most ``stride - 1`` more, which
    PyTorch calls ``output_padding``)."""
    fn = Deconv2d(stride, pad, outsize)
    return fn(x, W) if b is None else fn(x, W, b)


def pooling(
    x: Operand, kernel_size: int | Pair, stride: int | Pair = 1, pad: int | Pair = 0
) -> Variable:
    """Max pooling over ``kernel_size`` windows of ``x`` (N, C, H, W) (DeZero's name and
    defaults: ``stride=1``). Padding never wins a window (it is -inf, as in PyTorch);
    ``pad`` is at most half the kernel. Ties: the first maximum in a window gets the
    gradient."""
    return Pooling(kernel_size, stride, pad)(x)


def average_pooling(
    x: Operand, kernel_size: int | Pair, stride: int | Pair = 1, pad: int | Pair = 0
) -> Variable:
    """Average pooling over ``kernel_size`` windows of ``x`` (N, C, H, W); padding counts as
    zeros in the mean (PyTorch's default ``count_include_pad=True``)."""
    return AveragePooling(kernel_size, stride, pad)(x)


# ---------------------------------------------------------------------- samplers for checks
_X = Domain(-2.0, 2.0)
_W = Domain(-1.5, 1.5)
# Max pooling's inputs are distinct (ties are its only kinks); the sampler spreads the
# elements evenly over [-2, 2], 4/64 apart at least.
_POOL_X = Domain(-2.0, 2.0, distinct=True)
_BUDGET = 64
"""The most elements a drawn input has (the checker's ``MAX_SIZE``: a full Jacobian, second
order included, stays cheap)."""


def _window(draw: Draw, max_kernel: int = 3, max_stride: int = 2) -> tuple[Pair, Pair, bool]:
    """A kernel and a stride; ``square`` says whether ints (not pairs) are passed."""
    square = draw.boolean()
    kh = draw.integer(1, max_kernel)
    kw = kh if square else draw.integer(1, max_kernel)
    sh = draw.integer(1, max_stride)
    sw = sh if square else draw.integer(1, max_stride)
    return (kh, kw), (sh, sw), square


def _pad(draw: Draw, most: Pair, square: bool) -> Pair:
    """A pad of at most ``most`` on each axis (the same on both when ``square``)."""
    ph = draw.integer(0, min(most) if square else most[0])
    return ph, ph if square else draw.integer(0, most[1])


def _as_param(value: Pair, square: bool) -> int | Pair:
    return value[0] if square else value


def _image(draw: Draw, low: int, high: int) -> tuple[int, int, int, int]:
    """(N, C, H, W): batch 1-2, channels 1-3, sides in [low, high], at most _BUDGET elements."""
    n, c = draw.integer(1, 2), draw.integer(1, 3)
    h = draw.integer(low, max(low, min(high, _BUDGET // (n * c * low))))
    w = draw.integer(low, max(low, min(high, _BUDGET // (n * c * h))))
    return n, c, h, w


def _out_channels(draw: Draw, c: int, kernel: Pair) -> int:
    return draw.integer(1, min(3, _BUDGET // (c * kernel[0] * kernel[1])))


def _sample_conv2d(draw: Draw, bias: bool) -> Case:
    n, c, h, w = _image(draw, 3, 6)
    kernel, stride, square = _window(draw)
    pad = _pad(draw, (2, 2), square)
    oc = _out_channels(draw, c, kernel)
    inputs = [draw.array((n, c, h, w), _X), draw.array((oc, c, *kernel), _W)]
    if bias:
        inputs.append(draw.array((oc,), _X))
    params = {"stride": _as_param(stride, square), "pad": _as_param(pad, square)}
    return Case(tuple(inputs), params)


def _sample_deconv2d(draw: Draw, bias: bool) -> Case:
    n, c, h, w = _image(draw, 2, 5)
    (kh, kw), (sh, sw), square = _window(draw)
    # pad may crop at most what leaves a 1x1 output
    ph, pw = _pad(
        draw, (min(2, (sh * (h - 1) + kh - 1) // 2), min(2, (sw * (w - 1) + kw - 1) // 2)), square
    )
    outsize: Pair | None = None
    if draw.boolean():
        outsize = (
            _deconv_outsize(h, kh, sh, ph) + draw.integer(0, sh - 1),
            _deconv_outsize(w, kw, sw, pw) + draw.integer(0, sw - 1),
        )
    oc = _out_channels(draw, c, (kh, kw))
    inputs = [draw.array((n, c, h, w), _X), draw.array((c, oc, kh, kw), _W)]
    if bias:
        inputs.append(draw.array((oc,), _X))
    params = {
        "stride": _as_param((sh, sw), square),
        "pad": _as_param((ph, pw), square),
        "outsize": outsize,
    }
    return Case(tuple(inputs), params)


def _sample_window_params(
    draw: Draw, max_stride: int, most_pad: Callable[[int], int]
) -> tuple[tuple[int, int, int, int], dict[str, object]]:
    """An image shape and the kernel_size, stride and pad of a sliding-window op."""
    shape = _image(draw, 3, 6)
    kernel, stride, square = _window(draw, max_stride=max_stride)
    pad = _pad(draw, (most_pad(kernel[0]), most_pad(kernel[1])), square)
    params: dict[str, object] = {
        "kernel_size": _as_param(kernel, square),
        "stride": _as_param(stride, square),
        "pad": _as_param(pad, square),
    }
    return shape, params


def _half(k: int) -> int:
    return k // 2


def _distinct(a: Array, domain: Domain) -> Array:
    """The elements of ``a`` replaced by evenly spaced values in ``domain``, in the same
    order (ties broken by position): all distinct, ``(high - low) / a.size`` apart."""
    ranks = np.empty(a.size)
    ranks[np.argsort(a.ravel(), kind="stable")] = np.arange(a.size)
    spread = domain.low + (domain.high - domain.low) * (ranks + 0.5) / a.size
    return spread.reshape(a.shape).astype(a.dtype)


def _sample_pooling(draw: Draw) -> Case:
    shape, params = _sample_window_params(draw, 3, _half)
    return Case((_distinct(draw.array(shape, _POOL_X), _POOL_X),), params)


def _sample_average_pooling(draw: Draw) -> Case:
    shape, params = _sample_window_params(draw, 3, _half)
    return Case((draw.array(shape, _X),), params)


def _sample_im2col(draw: Draw) -> Case:
    shape, params = _sample_window_params(draw, 2, lambda k: 1)
    return Case((draw.array(shape, _X),), params)


def _sample_col2im(draw: Draw) -> Case:
    (kh, kw), (sh, sw), square = _window(draw)
    ph, pw = _pad(draw, (1, 1), square)

    def cols(h: int, w: int) -> int:  # elements of the windows of one image channel
        return kh * kw * conv_outsize(h, kh, sh, ph) * conv_outsize(w, kw, sw, pw)

    low_h, low_w = max(1, kh - 2 * ph), max(1, kw - 2 * pw)  # the kernel fits the padding
    h = draw.choice([h for h in range(low_h, 6) if cols(h, low_w) <= _BUDGET])
    w = draw.choice([w for w in range(low_w, 6) if cols(h, w) <= _BUDGET])
    c = draw.integer(1, min(3, _BUDGET // cols(h, w)))
    n = draw.integer(1, min(2, _BUDGET // (c * cols(h, w))))
    oh, ow = conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw)
    params = {
        "input_shape": (n, c, h, w),
        "kernel_size": _as_param((kh, kw), square),
        "stride": _as_param((sh, sw), square),
        "pad": _as_param((ph, pw), square),
    }
    return Case((draw.array((n, c, kh, kw, oh, ow), _X),), params)


def ops() -> list[OpDef]:
    """The ``OpDef``s of this module, collected by the plugin's hook."""
    return [
        OpDef(
            "conv2d",
            Conv2d,
            arity=3,
            domains=(_X, _W, _X),
            sample=lambda draw: _sample_conv2d(draw, bias=True),
            order=3,
            description="2-D convolution (x, W, b), NCHW, stride, pad",
        ),
        OpDef(
            "conv2d_nobias",
            Conv2d,
            arity=2,
            domains=(_X, _W),
            sample=lambda draw: _sample_conv2d(draw, bias=False),
            order=3,
            description="conv2d without b (the same Function, checked on its own)",
        ),
        OpDef(
            "deconv2d",
            Deconv2d,
            arity=3,
            domains=(_X, _W, _X),
            sample=lambda draw: _sample_deconv2d(draw, bias=True),
            order=3,
            description="transposed 2-D convolution (x, W, b), NCHW, stride, pad, outsize",
        ),
        OpDef(
            "deconv2d_nobias",
            Deconv2d,
            arity=2,
            domains=(_X, _W),
            sample=lambda draw: _sample_deconv2d(draw, bias=False),
            order=3,
            description="deconv2d without b (the same Function, checked on its own)",
        ),
        OpDef(
            "pooling",
            Pooling,
            domains=(_POOL_X,),
            sample=_sample_pooling,
            order=3,
            ties="first",
            description="max pooling, NCHW, kernel_size, stride, pad (-inf padding)",
        ),
        OpDef(
            "average_pooling",
            AveragePooling,
            domains=(_X,),
            sample=_sample_average_pooling,
            order=3,
            description="average pooling, NCHW, kernel_size, stride, pad (zeros counted)",
        ),
        OpDef(
            "im2col",
            Im2col,
            domains=(_X,),
            sample=_sample_im2col,
            order=3,
            description="sliding windows (N, C, KH, KW, OH, OW) of an NCHW image",
        ),
        OpDef(
            "col2im",
            Col2im,
            domains=(_X,),
            sample=_sample_col2im,
            order=3,
            description="adjoint of im2col: windows summed back into an image",
        ),
    ]
