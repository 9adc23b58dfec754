"""dezero-ext-nn: convolution on NCHW arrays: ``conv2d`` and ``deconv2d`` (the transposed
convolution).

Each forward and first backward is an im2col (or col2im) and a batched matmul, a few images
at a time (``_batched``). The differentiable backward (for higher orders) is written with
differentiable ops only: the ``Im2col``/``Col2im`` Functions (each the other's
adjoint), ``matmul``, ``reshape``, ``transpose`` and ``sum``. So the gradient of a gradient is
right too; DeZero 0.0.13 gets conv2d's and deconv2d's second derivative through ``W`` wrong.
Pooling lives in ``pool`` and the im2col kernels in ``sliding``; their names are re-exported
here.
"""

from __future__ import annotations

import numpy as np

from dezero_ext import Array, Case, Draw, Function, Operand, OpSet, Variable
from dezero_ext.ops import matmul, reshape, sum, transpose  # noqa: A004
from dezero_ext.ops.helpers import tangent_sum, tangent_sum_array
from dezero_ext_nn import _phases as phases
from dezero_ext_nn._batched import conv_backward, conv_forward, deconv_backward, deconv_forward
from dezero_ext_nn._sampling import W, X, as_param, image, out_channels, pad_pair, window
from dezero_ext_nn.pool import AveragePooling, Pooling, average_pooling, pooling
from dezero_ext_nn.references import conv2d_reference
from dezero_ext_nn.sliding import (
    Col2im,
    Im2col,
    Pair,
    check_4d,
    check_footprint,
    check_kernel,
    col2im,
    conv_outsize,
    im2col,
    pair,
)

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

ops = OpSet()

_X_LAYOUT = "(N, C, H, W)"


def _check_bias(b: Array | None, channels: int, w: Array, op: str) -> None:
    if b is not None and b.shape != (channels,):
        raise ValueError(
            f"{op}: b has shape {b.shape} but W has {channels} output channels "
            f"(W shape {w.shape}); b must have shape ({channels},)"
        )


def _add_bias(y: Array, b: Array | None) -> Array:
    """``y + b`` per channel; in place when that keeps ``y``'s dtype (``y`` is a new array)."""
    if b is None:
        return y
    if np.result_type(y, b) == y.dtype:
        y += b.reshape(1, -1, 1, 1)
        return y
    return y + b.reshape(1, -1, 1, 1)


def _bias_grad(gy: Variable) -> Variable:
    return sum(gy, axis=(0, 2, 3))


def _sample_conv2d(draw: Draw) -> Case:
    n, c, h, w = image(draw, 3, 6)
    kernel, stride, square = window(draw)
    pad = pad_pair(draw, (2, 2), square)
    oc = out_channels(draw, c, kernel)
    # the bias b is optional: the checker checks the op without it too
    inputs = (draw.array((n, c, h, w), X), draw.array((oc, c, *kernel), W), draw.array((oc,), X))
    params = {"stride": as_param(stride, square), "pad": as_param(pad, square)}
    return Case(inputs, params)


@ops.declare(
    "conv2d",
    domains=(X, W, X),
    sample=_sample_conv2d,
    order=3,
    description="2-D convolution (x, W, b optional), NCHW, stride, pad",
    reference=conv2d_reference,
)
class Conv2d(Function):
    """``y = conv2d(x, W[, b])``: x (N, C, H, W), W (OC, C, KH, KW), b (OC,) -> (N, OC, OH, OW)."""

    def __init__(self, stride: int | Pair = 1, pad: int | Pair = 0) -> None:
        self.stride = pair(stride, "stride", "conv2d", 1)
        self.pad = pair(pad, "pad", "conv2d", 0)

    saves_output = False

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        self.x, self.w = x, w
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
        # im2col(x) is gathered a few images at a time, each padded in a reused buffer
        arrays = {"padded image": (1, c, h + 2 * ph, wd + 2 * pw), "y": (n, oc, oh, ow)}
        setting = f"pad={self.pad}, stride={self.stride} on x {x.shape} and W {w.shape}"
        check_footprint("conv2d", setting, arrays, x.dtype)
        if b is not None and np.result_type(x, w, b) == np.result_type(x, w):
            return conv_forward(x, w, self.stride, self.pad, b)  # adds b chunk by chunk
        return _add_bias(conv_forward(x, w, self.stride, self.pad), b)

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
        # differentiating gW again reaches x (the term DeZero drops). Forward kept no im2col(x)
        # (it is KH*KW times x): this path, for higher derivatives, gathers it again.
        xcol = Im2col((kh, kw), self.stride, self.pad)(x)
        gw = sum(matmul(gy3, transpose(reshape(xcol, (n, ckk, oh * ow)), (0, 2, 1))), axis=0)
        gw = reshape(gw, w.shape)
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, _bias_grad(gy)

    def backward_array(self, gy: Array) -> tuple[Array | None, ...]:
        needs = self.needs_input_grad
        gx, gw = conv_backward(gy, self.x, self.w, self.stride, self.pad, needs[0], needs[1])
        if len(needs) == 2:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if needs[2] else None

    def jvp(self, *tangents: Variable | None) -> Variable | None:
        return _bilinear_jvp(self, tangents)

    def jvp_array(self, *tangents: Array | None) -> Array | None:
        return _bilinear_jvp_array(self, tangents)


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


def _deconv_outsize(h: int, k: int, s: int, p: int) -> int:
    return s * (h - 1) + k - 2 * p


def _sample_deconv2d(draw: Draw) -> Case:
    n, c, h, w = image(draw, 2, 5)
    (kh, kw), (sh, sw), square = window(draw)
    # pad may crop at most what leaves a 1x1 output
    ph, pw = pad_pair(
        draw, (min(2, (sh * (h - 1) + kh - 1) // 2), min(2, (sw * (w - 1) + kw - 1) // 2)), square
    )
    outsize: Pair | None = None
    if draw.boolean():
        outsize = (
            _deconv_outsize(h, kh, sh, ph) + draw.integer(0, sh - 1),
            _deconv_outsize(w, kw, sw, pw) + draw.integer(0, sw - 1),
        )
    oc = out_channels(draw, c, (kh, kw))
    inputs = (draw.array((n, c, h, w), X), draw.array((c, oc, kh, kw), W), draw.array((oc,), X))
    params = {
        "stride": as_param((sh, sw), square),
        "pad": as_param((ph, pw), square),
        "outsize": outsize,
    }
    return Case(inputs, params)


@ops.declare(
    "deconv2d",
    domains=(X, W, X),
    sample=_sample_deconv2d,
    order=3,
    description="transposed 2-D convolution (x, W, b optional), NCHW, stride, pad, outsize",
)
class Deconv2d(Function):
    """The transposed convolution (the gradient of ``conv2d`` w.r.t. its input, as an op):
    x (N, C, H, W), W (C, OC, KH, KW), b (OC,) -> (N, OC, OH, OW) with
    ``OH = stride*(H-1) + KH - 2*pad`` (or ``outsize``, up to ``stride - 1`` more)."""

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

    saves_output = False

    def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
        self.x, self.w = x, w
        check_4d(x, "x", "deconv2d", _X_LAYOUT)
        check_4d(w, "W", "deconv2d", "(in_channels, out_channels, KH, KW)")
        check_kernel(w, "deconv2d")
        n, c = x.shape[:2]
        ic, oc = w.shape[:2]
        if c != ic:
            raise ValueError(
                f"deconv2d: x has {c} channels but W expects {ic} (W shape {w.shape}; "
                "deconv2d's W is (in_channels, out_channels, KH, KW))"
            )
        _check_bias(b, oc, w, "deconv2d")
        out = self._output_size(x, w)
        (ph, pw) = self.pad
        arrays = {"padded y": (n, oc, out[0] + 2 * ph, out[1] + 2 * pw)}
        setting = f"stride={self.stride}, pad={self.pad}, outsize={out} on x {x.shape}"
        check_footprint("deconv2d", setting, arrays, x.dtype)
        self.outsize = out  # fixed from here on, so backward's im2col(gy) sees H x W again
        if not phases.usable((w.shape[2], w.shape[3]), self.stride, x):
            return _add_bias(deconv_forward(x, w, self.stride, self.pad, out), b)
        if b is not None and np.result_type(x, w, b) == np.result_type(x, w):
            return phases.deconv_forward(x, w, self.stride, self.pad, out, b)
        return _add_bias(phases.deconv_forward(x, w, self.stride, self.pad, out), b)

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

    def backward_array(self, gy: Array) -> tuple[Array, ...]:
        w = self.w
        usable = phases.usable((w.shape[2], w.shape[3]), self.stride, self.x, gy)
        backward = phases.deconv_backward if usable else deconv_backward
        grads = backward(gy, self.x, w, self.stride, self.pad)
        return grads if len(self.needs_input_grad) == 2 else (*grads, gy.sum(axis=(0, 2, 3)))

    def jvp(self, *tangents: Variable | None) -> Variable | None:
        return _bilinear_jvp(self, tangents)

    def jvp_array(self, *tangents: Array | None) -> Array | None:
        return _bilinear_jvp_array(self, tangents)


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


def _bilinear_jvp(op: Conv2d | Deconv2d, tangents: tuple[Variable | None, ...]) -> Variable | None:
    """The JVP of a convolution, bilinear in (x, w): ``conv(tx, w) + conv(x, tw) + tb``."""
    x, w = op.inputs[0], op.inputs[1]
    tx, tw = tangents[0], tangents[1]
    tb = tangents[2] if len(tangents) == 3 else None
    return tangent_sum(
        op.output().shape,
        None if tx is None else _same(op)(tx, w),
        None if tw is None else _same(op)(x, tw),
        None if tb is None else reshape(tb, (1, -1, 1, 1)),
    )


def _bilinear_jvp_array(op: Conv2d | Deconv2d, tangents: tuple[Array | None, ...]) -> Array | None:
    x, w = op.input_array(0), op.input_array(1)
    tx, tw = tangents[0], tangents[1]
    tb = tangents[2] if len(tangents) == 3 else None
    return tangent_sum_array(
        np.shape(op.output_array()),
        None if tx is None else _same(op).forward(tx, w),
        None if tw is None else _same(op).forward(x, tw),
        None if tb is None else np.reshape(tb, (1, -1, 1, 1)),
    )


def _same(op: Conv2d | Deconv2d) -> Conv2d | Deconv2d:
    """A new instance with ``op``'s parameters (no bias: the JVP adds ``tb`` itself)."""
    if isinstance(op, Deconv2d):
        return Deconv2d(op.stride, op.pad, op.outsize)
    return Conv2d(op.stride, op.pad)
