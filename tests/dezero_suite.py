"""DeZero 0.0.13's functions as checker targets (imported only where DeZero is installed).

``CORRECT``: the functions whose derivatives DeZero gets right, each at the orders it supports.
``FINDINGS``: the functions with DeZero's known bugs, each declared as a user would declare it,
with no hint of where the bug is: the checks find them (tests/testing/test_adapter_dezero.py).

Both are checked in float64: on NumPy 2 DeZero computes float32 gradients in float64 (its
``as_array`` turns a Python number into a 0-d array, which NumPy 2 no longer treats as weak),
which the check reports as its own finding (``FLOAT32``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dezero_ext import Case, Domain, Draw, ShapeRule
from dezero_ext.testing.adapters.dezero import DezeroTarget, dezero_target, import_dezero

dezero: Any = import_dezero()
F: Any = dezero.functions

WEIGHTS = Domain(-1.0, 1.0)
F64 = ("float64",)


def _sample_matmul(draw: Draw) -> Case:
    n, k, m = draw.integer(1, 4), draw.integer(1, 4), draw.integer(1, 4)
    return Case((draw.array((n, k)), draw.array((k, m))))


def _sample_linear(draw: Draw) -> Case:
    n, n_in, n_out = draw.integer(1, 4), draw.integer(1, 4), draw.integer(1, 4)
    return Case((draw.array((n, n_in)), draw.array((n_in, n_out), WEIGHTS), draw.array((n_out,))))


def _sample_logits_and_labels(draw: Draw) -> Case:
    n, classes = draw.integer(1, 4), draw.integer(2, 4)
    labels = np.array([draw.integer(0, classes - 1) for _ in range(n)])
    return Case((draw.array((n, classes)),), {"t": labels})


def _sample_batch(draw: Draw) -> Case:
    """A batch whose features each have values at least 0.3 apart: batch statistics are
    ill-conditioned when a feature's values (nearly) coincide."""
    n, c = draw.integer(2, 4), draw.integer(1, 3)
    start = draw.array((1, c), Domain(-2.0, 0.0))
    gaps = draw.array((n - 1, c), Domain(0.3, 1.0))
    x = np.concatenate([start, start + np.cumsum(gaps, axis=0)])
    return Case((x, draw.array((c,)), draw.array((c,))))


def _sample_conv2d(draw: Draw) -> Case:
    n, c, oc = draw.integer(1, 2), draw.integer(1, 2), draw.integer(1, 2)
    kh, kw = draw.integer(1, 2), draw.integer(1, 2)
    h, w = draw.integer(kh, kh + 2), draw.integer(kw, kw + 2)
    x = draw.array((n, c, h, w))
    return Case((x, draw.array((oc, c, kh, kw), WEIGHTS)), {"stride": draw.integer(1, 2)})


def _sample_deconv2d(draw: Draw) -> Case:
    n, c, oc = draw.integer(1, 2), draw.integer(1, 2), draw.integer(1, 2)
    kh, kw = draw.integer(1, 2), draw.integer(1, 2)
    x = draw.array((n, c, draw.integer(1, 3), draw.integer(1, 3)))
    return Case((x, draw.array((c, oc, kh, kw), WEIGHTS)), {"stride": draw.integer(1, 2)})


def _sample_pooling(draw: Draw) -> Case:
    kernel = draw.integer(1, 2)
    n, c = draw.integer(1, 2), draw.integer(1, 2)
    h, w = draw.integer(kernel, kernel + 2), draw.integer(kernel, kernel + 2)
    x = draw.array((n, c, h, w), Domain(-2.0, 2.0, distinct=True))
    return Case((x,), {"kernel_size": kernel, "stride": draw.integer(1, 2)})


def softmax_cross_entropy(x: Any, t: Any) -> Any:
    """The labels ``t`` are a parameter (integers, no gradient)."""
    return F.softmax_cross_entropy(x, t)


def batch_norm(x: Any, gamma: Any, beta: Any) -> Any:
    """``F.batch_nrom`` (sic) in training mode, with fresh running statistics."""
    c = x.shape[1]
    mean, var = np.zeros(c, dtype=x.dtype), np.ones(c, dtype=x.dtype)
    return F.batch_nrom(x, gamma, beta, mean, var)


def conv2d(x: Any, W: Any, stride: int = 1) -> Any:
    return F.conv2d(x, W, stride=stride)


def deconv2d(x: Any, W: Any, stride: int = 1) -> Any:
    return F.deconv2d(x, W, stride=stride)


def pooling(x: Any, kernel_size: int, stride: int = 1) -> Any:
    return F.pooling(x, kernel_size, stride=stride)


def tanh_of_pooling(x: Any, kernel_size: int, stride: int = 1) -> Any:
    """Max pooling inside a network: the gradient flowing into it depends on the input."""
    return F.tanh(F.pooling(x, kernel_size, stride=stride))


CORRECT: list[DezeroTarget] = [
    dezero_target(F.sin, domains=Domain(-3.0, 3.0), order=3, dtypes=F64),
    dezero_target(F.cos, domains=Domain(-3.0, 3.0), order=3, dtypes=F64),
    dezero_target(F.tanh, order=3, dtypes=F64),
    dezero_target(F.exp, order=3, dtypes=F64),
    dezero_target(
        F.log, domains=Domain(0.2, 3.0, positive=True, outside="nan"), order=3, dtypes=F64
    ),
    dezero_target(F.sigmoid, domains=Domain(-4.0, 4.0), order=3, dtypes=F64),
    dezero_target(F.matmul, sample=_sample_matmul, order=3, dtypes=F64),
    dezero_target(F.linear, arity=3, optional=1, sample=_sample_linear, order=3, dtypes=F64),
    dezero_target(softmax_cross_entropy, sample=_sample_logits_and_labels, order=3, dtypes=F64),
    # alone, max pooling's derivatives with respect to x are right (zero beyond order 1)
    dezero_target(pooling, sample=_sample_pooling, ties="first", order=3, dtypes=F64),
]

FINDINGS: dict[str, DezeroTarget] = {
    "batch_norm": dezero_target(batch_norm, sample=_sample_batch, order=2, dtypes=F64),
    "conv2d": dezero_target(conv2d, sample=_sample_conv2d, order=2, dtypes=F64),
    "deconv2d": dezero_target(deconv2d, sample=_sample_deconv2d, order=2, dtypes=F64),
    "pooling": dezero_target(
        tanh_of_pooling, sample=_sample_pooling, ties="first", order=3, dtypes=F64
    ),
    "sum": dezero_target(F.sum, shape_rule=ShapeRule.REDUCTION, order=2, dtypes=F64),
}

FLOAT32 = dezero_target(F.tanh, order=1, dtypes=("float32",))
"""tanh in float32: on NumPy 2 its gradient comes back in float64."""
