"""im2col and col2im: the array kernels behind convolution and pooling, and the two
differentiable Functions built on them.

``col`` has DeZero's layout ``(N, C, KH, KW, OH, OW)``: ``col[n, c, i, j, oy, ox]`` is
``x_padded[n, c, oy*SH + i, ox*SW + j]``. Reshaped (without a copy) to ``(N, C*KH*KW, OH*OW)``
it is ready for one batched matmul. Both kernels loop over the KH*KW kernel offsets only;
each step moves a whole strided slice of the image.

``im2col`` is linear and ``col2im`` is its adjoint (it scatter-adds what ``im2col`` gathered),
so each one's backward is the other: derivatives of any order follow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from dezero_ext import Array, Case, Draw, Function, Operand, OpSet, Variable
from dezero_ext.ops import reshape, transpose
from dezero_ext.ops.helpers import check_array, given, linear_jvp, linear_jvp_array
from dezero_ext_nn._sampling import BUDGET, X, as_param, pad_pair, window, window_params

__all__ = [
    "Col2im",
    "Im2col",
    "Pair",
    "col2im",
    "check_footprint",
    "col2im_array",
    "conv_outsize",
    "crop",
    "im2col",
    "im2col_array",
    "ops",
    "pad_array",
    "pair",
    "windows",
]

Pair = tuple[int, int]
Window = tuple[slice, slice]

ops = OpSet()


def pair(value: object, name: str, op: str, minimum: int) -> Pair:
    """``value`` (an int or a pair of ints, each at least ``minimum``) as a pair; otherwise a
    ``TypeError`` (not ints) or ``ValueError`` (too small) naming ``op`` and ``name``."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    form = f"an int >= {minimum} or a pair of them (height, width)"
    if len(items) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ):
        raise TypeError(f"{op}: {name} must be {form}, got {given(value)}")
    if not all(v >= minimum for v in items):
        raise ValueError(f"{op}: {name} must be {form}, got {value!r}")
    return int(items[0]), int(items[1])


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def _bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def check_footprint(
    op: str, setting: str, arrays: Mapping[str, tuple[int, ...]], dtype: object
) -> None:
    """Refuse, before NumPy tries, arrays larger together than this machine's memory (a pad
    of 10**6 asks for terabytes): a ``MemoryError`` naming ``op``, the ``setting`` that asked
    for them and their shapes, instead of NumPy's bare one or a machine swapping to a halt."""
    limit = _physical_memory()
    itemsize = np.dtype(dtype).itemsize  # type: ignore[call-overload]  # an array's dtype
    total = sum(math.prod(shape) for shape in arrays.values()) * itemsize
    if limit is None or total <= limit:
        return
    shapes = ", ".join(f"{name} {shape}" for name, shape in arrays.items())
    raise MemoryError(
        f"{op}: {setting} needs {_bytes(total)} ({shapes}), more than this machine's "
        f"{_bytes(limit)}; is that meant? (pad is usually at most the kernel size - 1)"
    )


def conv_outsize(size: int, kernel: int, stride: int, pad: int) -> int:
    """The output length of a convolution window sliding over ``size`` (no ``cover_all``)."""
    return (size + 2 * pad - kernel) // stride + 1


def check_4d(a: Array, name: str, op: str, layout: str) -> None:
    if a.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D {layout}, got shape {a.shape}")


def check_kernel(w: Array, op: str) -> None:
    if w.shape[2] < 1 or w.shape[3] < 1:
        raise ValueError(
            f"{op}: W has an empty {w.shape[2]}x{w.shape[3]} kernel (W shape {w.shape})"
        )


def pad_array(x: Array, pad: Pair, fill: float = 0.0) -> Array:
    """``x`` (N, C, H, W) with ``pad`` rows and columns of ``fill`` on each side."""
    ph, pw = pad
    if not (ph or pw):
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def windows(kernel: Pair, stride: Pair, out: Pair) -> Iterator[tuple[int, int, Window]]:
    """For each kernel offset ``(i, j)``: the strided slice of the padded image that the
    offset sees across all ``out`` windows (``x_padded[:, :, rows, cols]``, shape OH x OW)."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out
    for i in range(kh):
        rows = slice(i, i + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            yield i, j, (rows, slice(j, j + sw * (ow - 1) + 1, sw))


def im2col_array(x: Array, kernel: Pair, stride: Pair, pad: Pair, fill: float = 0.0) -> Array:
    """``x`` (N, C, H, W) -> col (N, C, KH, KW, OH, OW); the padding holds ``fill``."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    out = conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw)
    xp = pad_array(x, pad, fill)
    col = np.empty((n, c, kh, kw, *out), dtype=x.dtype)
    for i, j, (rows, cols) in windows(kernel, stride, out):
        col[:, :, i, j] = xp[:, :, rows, cols]
    return col


def col2im_array(col: Array, size: Pair, stride: Pair, pad: Pair) -> Array:
    """col (N, C, KH, KW, OH, OW) -> the (N, C, H, W) image, overlapping windows summed."""
    n, c, kh, kw, oh, ow = col.shape
    img = np.zeros((n, c, size[0] + 2 * pad[0], size[1] + 2 * pad[1]), dtype=col.dtype)
    for i, j, (rows, cols) in windows((kh, kw), stride, (oh, ow)):
        img[:, :, rows, cols] += col[:, :, i, j]
    return crop(img, pad)


def crop(img: Array, pad: Pair) -> Array:
    """The inside of a padded image (a contiguous copy), the inverse of ``pad_array``."""
    ph, pw = pad
    if not (ph or pw):
        return img
    h, w = img.shape[2] - 2 * ph, img.shape[3] - 2 * pw
    return np.ascontiguousarray(img[:, :, ph : ph + h, pw : pw + w])


def _sample_im2col(draw: Draw) -> Case:
    shape, params = window_params(draw, 2, lambda k: 1)
    return Case((draw.array(shape, X),), params)


@ops.declare(
    "im2col",
    domains=X,
    sample=_sample_im2col,
    order=3,
    description="sliding windows (N, C, KH, KW, OH, OW) of an NCHW image",
)
class Im2col(Function):
    """x (N, C, H, W) -> col (N, C, KH, KW, OH, OW); the backward is ``Col2im``."""

    def __init__(
        self,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        pad: int | Pair = 0,
        *,
        result: Array | None = None,
    ) -> None:
        self.kernel = pair(kernel_size, "kernel_size", "im2col", 1)
        self.stride = pair(stride, "stride", "im2col", 1)
        self.pad = pair(pad, "pad", "im2col", 0)
        # An op that already gathered im2col(x) in its forward hands it over, so its backward
        # can record the gather in the graph without doing it again.
        self.result = None if result is None else check_array(result, "im2col", "result")

    saves_inputs = saves_output = False  # backward reads the input's shape

    def forward(self, x: Array) -> Array:
        self.x_shape = x.shape
        if self.result is not None:
            col, self.result = self.result, None
            return col
        check_4d(x, "x", "im2col", "(N, C, H, W)")
        (kh, kw), (ph, pw) = self.kernel, self.pad
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(
                f"im2col: a {kh}x{kw} kernel does not fit in the {x.shape[2]}x{x.shape[3]} "
                f"input padded by {self.pad} (x shape {x.shape})"
            )
        n, c, h, w = x.shape
        (sh, sw) = self.stride
        out = (conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw))
        arrays = {"padded x": (n, c, h + 2 * ph, w + 2 * pw), "col": (n, c, kh, kw, *out)}
        setting = f"pad={self.pad}, stride={self.stride} on x of shape {x.shape}"
        check_footprint("im2col", setting, arrays, x.dtype)
        return im2col_array(x, self.kernel, self.stride, self.pad)

    def backward(self, gcol: Variable) -> Variable:
        return Col2im(self.x_shape, self.kernel, self.stride, self.pad)(gcol)

    def backward_array(self, gcol: Array) -> Array:
        size = (self.x_shape[2], self.x_shape[3])
        return col2im_array(gcol, size, self.stride, self.pad)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def _sample_col2im(draw: Draw) -> Case:
    (kh, kw), (sh, sw), square = window(draw)
    ph, pw = pad_pair(draw, (1, 1), square)

    def cols(h: int, w: int) -> int:  # elements of the windows of one image channel
        return kh * kw * conv_outsize(h, kh, sh, ph) * conv_outsize(w, kw, sw, pw)

    low_h, low_w = max(1, kh - 2 * ph), max(1, kw - 2 * pw)  # the kernel fits the padding
    h = draw.choice([h for h in range(low_h, 6) if cols(h, low_w) <= BUDGET])
    w = draw.choice([w for w in range(low_w, 6) if cols(h, w) <= BUDGET])
    c = draw.integer(1, min(3, BUDGET // cols(h, w)))
    n = draw.integer(1, min(2, BUDGET // (c * cols(h, w))))
    oh, ow = conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw)
    params = {
        "input_shape": (n, c, h, w),
        "kernel_size": as_param((kh, kw), square),
        "stride": as_param((sh, sw), square),
        "pad": as_param((ph, pw), square),
    }
    return Case((draw.array((n, c, kh, kw, oh, ow), X),), params)


@ops.declare(
    "col2im",
    domains=X,
    sample=_sample_col2im,
    order=3,
    description="adjoint of im2col: windows summed back into an image",
)
class Col2im(Function):
    """col (N, C, KH, KW, OH, OW) -> image of ``input_shape``; the backward is ``Im2col``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        pad: int | Pair = 0,
    ) -> None:
        if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in input_shape
        ):
            raise TypeError(
                "col2im: input_shape must be the 4-D image shape (N, C, H, W), a tuple of ints, "
                f"got {given(input_shape)}"
            )
        shape = tuple(int(s) for s in input_shape)
        # An empty batch (N = 0) or no channels (C = 0) is fine; an image has pixels.
        if len(shape) != 4 or min(shape[:2]) < 0 or min(shape[2:]) < 1:
            raise ValueError(
                "col2im: input_shape must be the 4-D image shape (N, C, H, W) with H, W >= 1, "
                f"got {shape}"
            )
        self.input_shape = shape
        self.kernel = pair(kernel_size, "kernel_size", "col2im", 1)
        self.stride = pair(stride, "stride", "col2im", 1)
        self.pad = pair(pad, "pad", "col2im", 0)

    def forward(self, col: Array) -> Array:
        n, c, h, w = self.input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        expected = (n, c, kh, kw, conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw))
        if col.shape != expected or min(expected[2:]) < 1:
            raise ValueError(
                f"col2im: col has shape {col.shape}, but an image of shape {self.input_shape} "
                f"with kernel {self.kernel}, stride {self.stride} and pad {self.pad} gives "
                f"cols of shape {expected}"
            )
        setting = f"pad={self.pad} on input_shape {self.input_shape}"
        check_footprint(
            "col2im", setting, {"padded image": (n, c, h + 2 * ph, w + 2 * pw)}, col.dtype
        )
        return col2im_array(col, (h, w), self.stride, self.pad)

    saves_inputs = saves_output = False

    def backward(self, gx: Variable) -> Variable:
        return Im2col(self.kernel, self.stride, self.pad)(gx)

    def backward_array(self, gx: Array) -> Array:
        return im2col_array(gx, self.kernel, self.stride, self.pad)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def im2col(
    x: Operand,
    kernel_size: int | Pair,
    stride: int | Pair = 1,
    pad: int | Pair = 0,
    to_matrix: bool = True,
) -> Variable:
    """The sliding windows of ``x`` (N, C, H, W), zero-padded, as DeZero's ``im2col``.

    ``to_matrix=True`` gives a matrix of shape ``(N*OH*OW, C*KH*KW)`` (one window per row);
    ``False`` the array ``(N, C, KH, KW, OH, OW)``. Differentiable to any order.
    """
    col = Im2col(kernel_size, stride, pad)(x)
    if not to_matrix:
        return col
    n, c, kh, kw, oh, ow = col.shape
    return reshape(transpose(col, (0, 4, 5, 1, 2, 3)), (n * oh * ow, c * kh * kw))


def col2im(
    col: Operand,
    input_shape: Sequence[int],
    kernel_size: int | Pair,
    stride: int | Pair = 1,
    pad: int | Pair = 0,
    to_matrix: bool = True,
) -> Variable:
    """The adjoint of ``im2col``: sum the windows back into an image of ``input_shape``.

    ``col`` is a ``(N*OH*OW, C*KH*KW)`` matrix when ``to_matrix`` is True, else the array
    ``(N, C, KH, KW, OH, OW)``. Differentiable to any order.
    """
    fn = Col2im(input_shape, kernel_size, stride, pad)
    if to_matrix:
        n, c, h, w = fn.input_shape
        (kh, kw), (sh, sw), (ph, pw) = fn.kernel, fn.stride, fn.pad
        oh, ow = conv_outsize(h, kh, sh, ph), conv_outsize(w, kw, sw, pw)
        col = transpose(reshape(col, (n, oh, ow, c, kh, kw)), (0, 3, 4, 5, 1, 2))
    return fn(col)
