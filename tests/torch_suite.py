"""PyTorch's own differentiable functions as checker targets (imported only where torch is
installed): elementwise math and activations, broadcasting binary ops, reductions, matmul,
softmax, losses, linear and conv2d, each declared as an op would be. ``SUITE`` is checked at
orders 1-2 by tests/testing/test_adapter_torch.py;
``dezero-ext check --target tests.torch_suite:SUITE`` runs it from the command line."""

from __future__ import annotations

import importlib
from typing import Any

from dezero_ext import Case, Domain, Draw, ShapeRule, Tolerance
from dezero_ext.testing.adapters.torch import TorchTarget, torch_target

torch: Any = importlib.import_module("torch")
F: Any = torch.nn.functional

# undefined (nan) below 0, as the checker verifies of a declared outside="nan"
POSITIVE = Domain(0.2, 3.0, positive=True, outside="nan")
NONZERO = Domain(-3.0, 3.0, exclude=(0.0,), margin=0.3)
RELU_LIKE = Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="left")


def _sample_matrix_axis(draw: Draw) -> Case:
    """A 1-3 dimensional input and a ``dim`` along which softmax-like functions normalise."""
    shape = draw.shape(min_dims=1, max_dims=3)
    return Case((draw.array(shape),), {"dim": draw.integer(-len(shape), len(shape) - 1)})


def _sample_pair(draw: Draw) -> Case:
    """Two inputs of one shape (a loss: prediction and target, both differentiable)."""
    shape = draw.shape(min_dims=1, max_dims=2)
    return Case((draw.array(shape), draw.array(shape)))


def _sample_logits_and_labels(draw: Draw) -> Case:
    n, c = draw.integer(1, 4), draw.integer(2, 4)
    labels = torch.tensor([draw.integer(0, c - 1) for _ in range(n)])
    return Case((draw.array((n, c)),), {"target": labels})


def _sample_logits_and_probabilities(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=2)
    probabilities = draw.array(shape, Domain(0.05, 0.95))
    return Case((draw.array(shape),), {"target": torch.tensor(probabilities)})


def _sample_linear(draw: Draw) -> Case:
    batch = draw.shape(min_dims=1, max_dims=2, max_side=3)
    n_in, n_out = draw.integer(1, 4), draw.integer(1, 4)
    x = draw.array((*batch, n_in))
    return Case((x, draw.array((n_out, n_in)), draw.array((n_out,))))


def _sample_conv2d(draw: Draw) -> Case:
    n, c, oc = draw.integer(1, 2), draw.integer(1, 2), draw.integer(1, 2)
    kh, kw = draw.integer(1, 3), draw.integer(1, 3)
    stride, padding = draw.integer(1, 2), draw.integer(0, 1)
    h, w = draw.integer(kh, kh + 2), draw.integer(kw, kw + 2)
    x = draw.array((n, c, h, w))
    weight = draw.array((oc, c, kh, kw), Domain(-1.0, 1.0))
    return Case((x, weight, draw.array((oc,))), {"stride": stride, "padding": padding})


def _sample_layer_norm(draw: Draw) -> Case:
    shape = draw.shape(min_dims=1, max_dims=2, min_side=2)
    x = draw.array(shape, Domain(-2.0, 2.0, distinct=True, margin=0.2))
    return Case((x,), {"normalized_shape": shape[-1:]})


def _mse_loss(x: Any, y: Any) -> Any:
    return F.mse_loss(x, y)


def _smooth_l1(x: Any, y: Any) -> Any:
    return F.smooth_l1_loss(x, y, beta=1.0)


def _layer_norm(x: Any, normalized_shape: tuple[int, ...]) -> Any:
    return F.layer_norm(x, normalized_shape)


def _cosine_similarity(x: Any, y: Any) -> Any:
    return F.cosine_similarity(x, y, dim=-1)


def _logsumexp(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """``torch.logsumexp`` needs its ``dim``: all of them for ``axis=None`` and for ``()``
    (``torch.logsumexp(x, ())`` raises in torch 2.13, a bug this check found:
    tests/testing/test_adapter_torch.py)."""
    dims = tuple(range(x.ndim)) if axis is None or axis == () else axis
    return torch.logsumexp(x, dims, keepdim=keepdims)


def _sample_prod(draw: Draw) -> Case:
    """``torch.prod`` reduces over one dimension or all of them."""
    shape = draw.shape(max_dims=3)
    axis = draw.choice([None, *range(-len(shape), len(shape))])
    return Case((draw.array(shape, NONZERO),), {"dim": axis} if axis is not None else {})


def _pow3(x: Any) -> Any:
    return torch.pow(x, 3)


def _bce_with_logits(x: Any, target: Any) -> Any:
    return F.binary_cross_entropy_with_logits(x, target.to(x.dtype))


def _cross_entropy(x: Any, target: Any) -> Any:
    return F.cross_entropy(x, target)


BROADCAST = ShapeRule.BROADCAST
REDUCTION = ShapeRule.REDUCTION

SUITE: list[TorchTarget] = [
    # elementwise
    torch_target(torch.sin, domains=Domain(-3.0, 3.0), order=2),
    torch_target(torch.cos, domains=Domain(-3.0, 3.0), order=2),
    torch_target(torch.tan, domains=Domain(-1.2, 1.2), order=2),
    torch_target(torch.tanh, order=2),
    torch_target(torch.exp, order=2),
    torch_target(torch.log, domains=POSITIVE, order=2),
    torch_target(torch.sqrt, domains=POSITIVE, order=2),
    torch_target(torch.rsqrt, domains=POSITIVE, order=2),
    torch_target(torch.reciprocal, domains=NONZERO, order=2),
    torch_target(torch.log1p, domains=Domain(-0.7, 3.0, outside="nan"), order=2),
    torch_target(torch.expm1, order=2),
    torch_target(torch.atan, domains=Domain(-3.0, 3.0), order=2),
    torch_target(torch.asinh, domains=Domain(-3.0, 3.0), order=2),
    torch_target(torch.erf, order=2),
    torch_target(torch.sigmoid, domains=Domain(-4.0, 4.0), order=2),
    torch_target(_pow3, name="pow3", order=2),
    torch_target(torch.abs, domains=Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="mean"), order=2),
    # activations
    torch_target(F.relu, domains=RELU_LIKE, order=2),
    torch_target(F.leaky_relu, domains=RELU_LIKE, order=2),
    torch_target(F.elu, domains=Domain(-2.0, 2.0, kinks=(0.0,)), order=2),
    torch_target(
        F.hardtanh, domains=Domain(-2.0, 2.0, kinks=(-1.0, 1.0), kink_rule="between"), order=2
    ),
    torch_target(F.softplus, domains=Domain(-4.0, 4.0), order=2),
    torch_target(F.silu, domains=Domain(-4.0, 4.0), order=2),
    torch_target(F.gelu, domains=Domain(-3.0, 3.0), order=2),
    torch_target(F.mish, domains=Domain(-3.0, 3.0), order=2),
    torch_target(F.logsigmoid, domains=Domain(-4.0, 4.0), order=2),
    # broadcasting binary ops
    torch_target(torch.add, arity=2, shape_rule=BROADCAST, order=2),
    torch_target(torch.mul, arity=2, shape_rule=BROADCAST, order=2),
    torch_target(torch.div, arity=2, shape_rule=BROADCAST, domains=(Domain(), NONZERO), order=2),
    torch_target(torch.atan2, arity=2, shape_rule=BROADCAST, domains=(Domain(), NONZERO), order=2),
    torch_target(torch.hypot, arity=2, shape_rule=BROADCAST, domains=(NONZERO, NONZERO), order=2),
    # reductions (axis and keepdims drawn by the checker)
    torch_target(torch.sum, shape_rule=REDUCTION, order=2),
    torch_target(torch.mean, shape_rule=REDUCTION, order=2),
    torch_target(_logsumexp, name="logsumexp", shape_rule=REDUCTION, order=2),
    torch_target(
        torch.amax,
        shape_rule=REDUCTION,
        domains=Domain(-2.0, 2.0, distinct=True),
        ties="split",
        order=2,
    ),
    torch_target(torch.prod, sample=_sample_prod, domains=NONZERO, order=2),
    # linear algebra, normalisation
    torch_target(torch.matmul, arity=2, shape_rule=ShapeRule.MATMUL, order=2),
    torch_target(F.linear, arity=3, optional=1, sample=_sample_linear, order=2),
    torch_target(
        F.conv2d,
        arity=3,
        optional=1,
        sample=_sample_conv2d,
        domains=(Domain(), Domain(-1.0, 1.0), Domain()),
        order=2,
    ),
    torch_target(F.softmax, sample=_sample_matrix_axis, order=2),
    torch_target(F.log_softmax, sample=_sample_matrix_axis, order=2),
    torch_target(_layer_norm, name="layer_norm", sample=_sample_layer_norm, order=2),
    torch_target(
        _cosine_similarity,
        name="cosine_similarity",
        sample=_sample_pair,
        domains=NONZERO,
        order=2,
        tolerance=Tolerance(rtol32=5e-3, atol32=5e-3),
    ),
    # losses
    torch_target(_mse_loss, name="mse_loss", sample=_sample_pair, order=2),
    torch_target(_smooth_l1, name="smooth_l1_loss", sample=_sample_pair, order=2),
    torch_target(
        _bce_with_logits,
        name="binary_cross_entropy_with_logits",
        sample=_sample_logits_and_probabilities,
        order=2,
    ),
    torch_target(_cross_entropy, name="cross_entropy", sample=_sample_logits_and_labels, order=2),
]
