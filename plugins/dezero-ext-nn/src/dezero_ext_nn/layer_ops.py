"""dezero-ext-nn: the Functions behind the layers: ``linear``, ``dropout``, ``batch_norm``,
``embed_id``.

``dropout`` and ``batch_norm`` follow the mode: in ``test_mode()`` dropout is the identity and
batch norm normalizes with its running statistics instead of the batch's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dezero_ext import (
    Array,
    Case,
    Domain,
    Draw,
    Function,
    Operand,
    OpSet,
    Variable,
    as_variable,
    is_training,
)
from dezero_ext.opdef import ErrorInput
from dezero_ext.ops import reshape
from dezero_ext.ops.helpers import (
    BACKENDS,
    check_number,
    given,
    linear_jvp,
    linear_jvp_array,
    namespace_of,
    reshape_array,
    scatter_add,
    scatter_add_array,
    sum_to,
    tangent_sum,
    tangent_sum_array,
)
from dezero_ext_nn.references import batch_norm_reference, linear_reference

__all__ = [
    "BatchNorm",
    "Dropout",
    "EmbedID",
    "Linear",
    "batch_norm",
    "dropout",
    "embed_id",
    "linear",
    "ops",
]

ops = OpSet()


def _sample_linear(draw: Draw) -> Case:
    n_in, n_out = draw.integer(1, 4), draw.integer(1, 4)
    lead = draw.choice([(), (draw.integer(1, 4),), (draw.integer(1, 3), draw.integer(1, 3))])
    inputs = (draw.array((*lead, n_in)), draw.array((n_in, n_out)))
    return Case((*inputs, draw.array((n_out,))))  # the bias is optional: checked without too


@ops.declare(
    "linear",
    backends=BACKENDS,
    domains=Domain(-2.0, 2.0),
    sample=_sample_linear,
    order=3,
    description="x @ W + b (b optional)",
    error_inputs=(
        ErrorInput(
            (np.ones((2, 3)), np.ones((4, 5))), ValueError, r"inner dimensions 3 and 4 differ"
        ),
    ),
    reference=linear_reference,
)
class Linear(Function):
    """``x @ W + b`` with ``x`` of shape ``(..., in)``, ``W`` of shape ``(in, out)`` (DeZero's
    layout) and an optional bias ``b`` of shape ``(out,)``: two or three inputs."""

    saves_output = False

    def forward(self, x: Array, W: Array, b: Array | None = None) -> Array:  # noqa: N803
        self.x, self.W = x, W
        if W.ndim != 2:
            raise ValueError(f"linear: W of shape {W.shape} must be 2-D, (in, out)")
        if x.ndim == 0:
            raise ValueError(f"linear: x must have at least one dimension, got shape {x.shape}")
        if x.shape[-1] != W.shape[0]:
            raise ValueError(
                f"linear: x of shape {x.shape} and W of shape {W.shape}: inner dimensions "
                f"{x.shape[-1]} and {W.shape[0]} differ"
            )
        if W.__class__ is not np.ndarray or x.__class__ is not np.ndarray:
            arrays = (x, W) if b is None else (x, W, b)
            namespace_of(*arrays, op="linear")  # two libraries: refused, naming them
        y: Array = x @ W
        if b is not None:
            if b.shape != (W.shape[1],):
                raise ValueError(
                    f"linear: b of shape {b.shape} does not match W of shape {W.shape}: "
                    f"expected ({W.shape[1]},)"
                )
            y = y + b
        return y

    def backward(self, gy: Variable) -> tuple[Variable | None, ...]:
        x, W = self.inputs[:2]  # noqa: N806
        n_in, n_out = W.shape
        needs = self.needs_input_grad
        # A data batch passed as an array is a constant: skip its (large) gradient.
        gx = gy @ W.T if needs[0] else None
        rows = math.prod(x.shape[:-1])  # not -1: with no input feature it would be ambiguous
        gW = reshape(x, (rows, n_in)).T @ reshape(gy, (rows, n_out)) if needs[1] else None  # noqa: N806
        if len(self.inputs) == 2:
            return gx, gW
        return gx, gW, sum_to(gy, (n_out,)) if needs[2] else None

    def backward_array(self, gy: Array) -> tuple[Array | None, ...]:
        x, W = self.x, self.W  # noqa: N806
        n_in, n_out = W.shape
        needs = self.needs_input_grad
        gx = gy @ W.T if needs[0] else None
        rows = math.prod(x.shape[:-1])
        gy2 = reshape_array(gy, (rows, n_out))
        gW = reshape_array(x, (rows, n_in)).T @ gy2 if needs[1] else None  # noqa: N806
        if len(needs) == 2:
            return gx, gW
        if not needs[2]:
            return gx, gW, None
        if isinstance(gy2, np.ndarray | np.generic):
            return gx, gW, gy2.sum(axis=0)
        return gx, gW, namespace_of(gy2, op="linear").sum(gy2, axis=0)

    def jvp(self, *tangents: Variable | None) -> Variable | None:
        x, W = self.inputs[:2]  # noqa: N806  # bilinear: tx W + x tW (+ tb)
        tx, tw = tangents[0], tangents[1]
        tb = tangents[2] if len(tangents) == 3 else None
        return tangent_sum(
            self.output().shape,
            None if tx is None else Linear()(tx, W),
            None if tw is None else Linear()(x, tw),
            tb,
        )

    def jvp_array(self, *tangents: Array | None) -> Array | None:
        x, W = self.x, self.W  # noqa: N806
        tx, tw = tangents[0], tangents[1]
        tb = tangents[2] if len(tangents) == 3 else None
        return tangent_sum_array(
            (*x.shape[:-1], W.shape[1]),
            None if tx is None else tx @ W,
            None if tw is None else x @ tw,
            tb,
        )


def linear(x: Operand, W: Operand, b: Operand | None = None) -> Variable:  # noqa: N803
    """``x @ W + b``: ``x`` ``(..., in)``, ``W`` ``(in, out)``, ``b`` ``(out,)`` or None."""
    if b is None:
        return Linear()(x, W)
    return Linear()(x, W, b)


Seed = int | np.random.Generator | None


def _sample_dropout(draw: Draw) -> Case:
    shape = draw.shape(max_dims=3)
    params = {"ratio": draw.choice([0.0, 0.2, 0.5, 0.9]), "seed": draw.integer(0, 2**16)}
    return Case((draw.array(shape),), params)


@ops.declare(
    "dropout",
    domains=Domain(-3.0, 3.0),
    sample=_sample_dropout,
    order=3,
    description="inverted dropout; mask from seed; identity in test mode",
)
class Dropout(Function):
    """Inverted dropout: in train mode each element is kept with probability ``1 - ratio``
    and scaled by ``1 / (1 - ratio)``; the mask is drawn once per call. In ``test_mode()`` it
    is the identity.

    ``seed`` (an int or a ``numpy.random.Generator``) makes the mask reproducible; None draws
    from NumPy's global random state (``np.random.seed`` applies, as in DeZero).
    """

    saves_inputs = saves_output = False  # backward reads the mask (scale), from forward

    def __init__(self, ratio: float = 0.5, seed: Seed = None) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)):
            raise TypeError(f"dropout: ratio must be a number in [0, 1), got {given(ratio)}")
        if not 0 <= ratio < 1:
            raise ValueError(
                f"dropout: ratio {ratio!r} is the probability of dropping an element; it must "
                "lie in [0, 1)"
            )
        ratio = float(ratio)
        if seed is not None and not isinstance(seed, np.random.Generator):
            what = "an int >= 0, a numpy.random.Generator or None"
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"dropout: seed must be {what}, got {given(seed)}")
            if seed < 0:
                raise ValueError(f"dropout: seed must be {what}, got {seed!r}")
        self.ratio = ratio
        self.seed = seed
        self.scale: Array | None = None

    def _uniform(self, shape: tuple[int, ...]) -> Array:
        if self.seed is None:
            return np.asarray(np.random.random_sample(shape))
        return np.random.default_rng(self.seed).random(shape)

    def forward(self, x: Array) -> Array:
        if not is_training():
            self.scale = None
            return x.copy()
        keep = self._uniform(x.shape) >= self.ratio
        self.scale = keep.astype(x.dtype) / x.dtype.type(1 - self.ratio)
        return x * self.scale

    def backward(self, gy: Variable) -> Variable:
        if self.scale is None:
            return gy
        return gy * Variable(self.scale)

    def backward_array(self, gy: Array) -> Array:
        return gy if self.scale is None else gy * self.scale

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def dropout(x: Operand, ratio: float = 0.5, seed: Seed = None) -> Variable:
    """Drop each element with probability ``ratio`` and scale the rest by ``1 / (1 - ratio)``
    (train mode); return ``x`` unchanged in ``test_mode()``."""
    if not is_training():
        Dropout(ratio, seed)  # validate the arguments all the same
        return as_variable(x)
    return Dropout(ratio, seed)(x)


def _standardize_grad(
    g: Variable, xhat: Variable, inv_std: Variable, axes: tuple[int, ...]
) -> Variable:
    """The gradient through ``xhat = (x - mean(x)) * inv_std`` (batch statistics, ``inv_std``
    a function of ``x`` too), written with ops so that it is differentiable again."""
    return inv_std * (
        g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True)
    )


def _batch_stats(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array, Array]:
    """``(mean, biased var, 1 / sqrt(var + eps))`` over ``axes``, kept as broadcastable."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    return mean, var, 1 / np.sqrt(var + eps)


class _BatchStatsFunction(Function):
    """A function of ``x`` through its batch statistics over ``axes``: ``xhat`` and
    ``inv_std``, computed once (or passed in when an earlier op already has them)."""

    def __init__(
        self, axes: tuple[int, ...], eps: float, xhat: Array | None, inv_std: Array | None
    ) -> None:
        self.axes, self.eps, self.xhat, self.inv_std = axes, eps, xhat, inv_std

    def _stats(self, x: Array) -> tuple[Array, Array]:
        if self.xhat is None or self.inv_std is None:
            mean, _, self.inv_std = _batch_stats(x, self.axes, self.eps)
            self.xhat = (x - mean) * self.inv_std
        return self.xhat, self.inv_std


class _Standardize(_BatchStatsFunction):
    """``xhat = (x - mean) / sqrt(var + eps)`` with the batch's statistics over ``axes``.

    Batch norm's backward builds its gradient on this op and ``_InvStd`` (instead of on
    constants, as DeZero does), so that the gradient itself differentiates correctly.
    Values computed earlier are passed in and not recomputed.
    """

    def forward(self, x: Array) -> Array:
        return self._stats(x)[0]

    def backward(self, g: Variable) -> Variable:
        (x,) = self.inputs
        inv_std = _InvStd(self.axes, self.eps, self.xhat, self.inv_std)(x)
        return _standardize_grad(g, self.output(), inv_std, self.axes)

    jvp = backward  # the Jacobian s (I - 11ᵀ/m - xhat xhatᵀ/m) is symmetric


class _InvStd(_BatchStatsFunction):
    """``1 / sqrt(var(x) + eps)`` over ``axes`` (kept dims), companion of ``_Standardize``."""

    def forward(self, x: Array) -> Array:
        return self._stats(x)[1]

    def backward(self, g: Variable) -> Variable:
        (x,) = self.inputs
        # d inv_std / dx_i = -inv_std**3 * (x_i - mean) / m = -inv_std**2 * xhat_i / m
        count = math.prod(x.shape[a] for a in self.axes)
        xhat = _Standardize(self.axes, self.eps, self.xhat, self.inv_std)(x)
        s = self.output()
        return xhat * (g * s * s * (-1.0 / count))

    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        xhat = _Standardize(self.axes, self.eps, self.xhat, self.inv_std)(x)
        s = self.output()
        return (xhat * tx).mean(axis=self.axes, keepdims=True) * (s * s * -1.0)


def _stat_array(
    value: object, name: str, channels: int | None = None, *, update: bool = False
) -> Array:
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        what = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else given(value)
        raise TypeError(
            f"batch_norm: {name} must be a floating-point numpy array (updated in place), "
            f"got {what}"
        )
    if channels is not None and value.shape != (channels,):
        raise ValueError(
            f"batch_norm: {name} of shape {value.shape} does not match the {channels} channels "
            f"of x: expected ({channels},)"
        )
    if update and not value.flags.writeable:
        raise ValueError(
            f"batch_norm: {name} is read-only, and train mode updates it in place; pass a "
            "writable array (e.g. a copy), or normalize in test_mode()"
        )
    return value


_BATCH_NOISE = Domain(-0.5, 0.5)


def _sample_batch_norm(draw: Draw) -> Case:
    # x is noise in [-0.5, 0.5] on a ramp over the batch axis whose steps are at least 1
    # apart: every channel's variance stays >= ~0.1, where batch norm is well conditioned
    # (a channel of nearly equal values makes 1/std, and every derivative, blow up).
    channels = draw.integer(1, 3)
    batch = draw.integer(2, 4)
    spatial = draw.choice([(), (draw.integer(1, 2),), (draw.integer(1, 2), draw.integer(1, 2))])
    noise = draw.array((batch, channels, *spatial), _BATCH_NOISE)
    ramp = np.linspace(-0.75 * batch, 0.75 * batch, batch).reshape(
        (batch,) + (1,) * (noise.ndim - 1)
    )
    x = noise + ramp.astype(noise.dtype)
    gamma = draw.array((channels,), Domain(-2.0, 2.0))
    beta = draw.array((channels,), Domain(-2.0, 2.0))
    return Case((x, gamma, beta), {"eps": draw.choice([2e-5, 1e-3])})


@ops.declare(
    "batch_norm",
    domains=(_BATCH_NOISE, Domain(-2.0, 2.0), Domain(-2.0, 2.0)),
    sample=_sample_batch_norm,
    order=3,
    description="batch normalization over axes other than 1",
    reference=batch_norm_reference,
)
class BatchNorm(Function):
    """Batch normalization of ``x`` ``(N, C, ...)`` per channel (axis 1), then ``gamma * xhat
    + beta`` with ``gamma``, ``beta`` of shape ``(C,)``.

    Train mode normalizes with the batch's mean and (biased) variance and, when
    ``running_mean``/``running_var`` arrays are given, updates them in place:
    ``r = decay * r + (1 - decay) * batch_stat`` (the variance unbiased, as PyTorch and
    DeZero). ``test_mode()`` normalizes with the running statistics, which must be given.
    The gradient is correct to any order (DeZero's second derivative is not).
    """

    saves_output = False

    def __init__(
        self,
        running_mean: Array | None = None,
        running_var: Array | None = None,
        decay: float = 0.9,
        eps: float = 2e-5,
    ) -> None:
        for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
            if stat is not None:
                _stat_array(stat, name)
        if (running_mean is None) != (running_var is None):
            raise ValueError("batch_norm: give both running_mean and running_var, or neither")
        decay = check_number(decay, "batch_norm", "decay", low=0, high=1)
        eps = check_number(eps, "batch_norm", "eps", low=0, open_low=True, what="a positive number")
        self.running_mean, self.running_var = running_mean, running_var
        self.decay, self.eps = decay, eps

    def forward(self, x: Array, gamma: Array, beta: Array) -> Array:
        self.gamma = gamma
        if x.ndim < 2:
            raise ValueError(
                f"batch_norm: x of shape {x.shape} must be (N, C, ...): a batch axis and a "
                "channel axis"
            )
        channels = x.shape[1]
        for name, value in (("gamma", gamma), ("beta", beta)):
            if value.shape != (channels,):
                raise ValueError(
                    f"batch_norm: {name} of shape {value.shape} does not match x of shape "
                    f"{x.shape}: expected ({channels},), one value per channel (axis 1)"
                )
        self.axes = (0, *range(2, x.ndim))
        self.bshape = (1, channels) + (1,) * (x.ndim - 2)
        self.train = is_training()
        if self.train:
            count = x.size // channels if channels else 0
            if count < 2:
                raise ValueError(
                    f"batch_norm: x of shape {x.shape} has {count} value per channel; training "
                    "needs more than one (use test_mode() with running statistics instead)"
                )
            mean, var, self.inv_std = _batch_stats(x, self.axes, self.eps)
            self.xhat = (x - mean) * self.inv_std
            if self.running_mean is not None and self.running_var is not None:
                rm = _stat_array(self.running_mean, "running_mean", channels, update=True)
                rv = _stat_array(self.running_var, "running_var", channels, update=True)
                if np.shares_memory(rm, rv):
                    raise ValueError(
                        "batch_norm: running_mean and running_var share memory; give two "
                        "separate arrays (each is updated in place)"
                    )
                # Both checked before either changes: an error leaves both as they were.
                keep, new = self.decay, 1 - self.decay
                rm *= keep
                rm += new * mean.reshape(channels)
                rv *= keep
                rv += new * var.reshape(channels) * (count / (count - 1))
        else:
            if self.running_mean is None or self.running_var is None:
                raise ValueError(
                    "batch_norm: test mode normalizes with running statistics: pass "
                    "running_mean and running_var (or call it in train mode)"
                )
            rm = _stat_array(self.running_mean, "running_mean", channels)
            rv = _stat_array(self.running_var, "running_var", channels)
            self.mean = rm.reshape(self.bshape).astype(x.dtype)
            self.inv_std = (1 / np.sqrt(rv + self.eps)).reshape(self.bshape).astype(x.dtype)
            self.xhat = (x - self.mean) * self.inv_std
        y: Array = gamma.reshape(self.bshape) * self.xhat + beta.reshape(self.bshape)
        return y

    def backward(self, gy: Variable) -> tuple[Variable, Variable, Variable]:
        x, gamma, _ = self.inputs
        axes = self.axes
        if self.train:
            xhat = _Standardize(axes, self.eps, self.xhat, self.inv_std)(x)
            inv_std = _InvStd(axes, self.eps, self.xhat, self.inv_std)(x)
            gx = _standardize_grad(gy * reshape(gamma, self.bshape), xhat, inv_std, axes)
        else:  # an affine map of x with constant statistics
            inv_std = Variable(self.inv_std)
            xhat = (x - Variable(self.mean)) * inv_std
            gx = gy * (reshape(gamma, self.bshape) * inv_std)
        return gx, (gy * xhat).sum(axis=axes), gy.sum(axis=axes)

    def backward_array(self, gy: Array) -> tuple[Array, Array, Array]:
        axes, xhat, inv_std = self.axes, self.xhat, self.inv_std
        g = gy * self.gamma.reshape(self.bshape)
        if self.train:  # the batch statistics depend on x too
            g = g - g.mean(axis=axes, keepdims=True)
            g = g - xhat * (gy * self.gamma.reshape(self.bshape) * xhat).mean(
                axis=axes, keepdims=True
            )
        gx: Array = g * inv_std
        return gx, (gy * xhat).sum(axis=axes), gy.sum(axis=axes)

    def jvp(
        self, tx: Variable | None, tgamma: Variable | None, tbeta: Variable | None
    ) -> Variable | None:
        # y = gamma xhat + beta: t_y = gamma t_xhat + t_gamma xhat + t_beta, where t_xhat is
        # the standardization's Jacobian (symmetric) applied to t_x with the batch's
        # statistics, or t_x * inv_std with constant running statistics (test mode)
        x, gamma, _ = self.inputs
        axes, bshape = self.axes, self.bshape
        if self.train:
            xhat = _Standardize(axes, self.eps, self.xhat, self.inv_std)(x)
        else:
            xhat = (x - Variable(self.mean)) * Variable(self.inv_std)
        terms: list[Variable | None] = [None, None, None]
        if tx is not None:
            if self.train:
                inv_std = _InvStd(axes, self.eps, self.xhat, self.inv_std)(x)
                txhat = _standardize_grad(tx, xhat, inv_std, axes)
            else:
                txhat = tx * Variable(self.inv_std)
            terms[0] = reshape(gamma, bshape) * txhat
        if tgamma is not None:
            terms[1] = reshape(tgamma, bshape) * xhat
        if tbeta is not None:
            terms[2] = reshape(tbeta, bshape)
        return tangent_sum(self.xhat.shape, *terms)

    def jvp_array(
        self, tx: Array | None, tgamma: Array | None, tbeta: Array | None
    ) -> Array | None:
        axes, bshape, xhat, inv_std = self.axes, self.bshape, self.xhat, self.inv_std
        terms: list[Array | None] = [None, None, None]
        if tx is not None:
            if self.train:  # the batch statistics move with x too
                tx = (
                    tx
                    - tx.mean(axis=axes, keepdims=True)
                    - xhat * (tx * xhat).mean(axis=axes, keepdims=True)
                )
            terms[0] = self.gamma.reshape(bshape) * (tx * inv_std)
        if tgamma is not None:
            terms[1] = tgamma.reshape(bshape) * xhat
        if tbeta is not None:
            terms[2] = tbeta.reshape(bshape)
        return tangent_sum_array(xhat.shape, *terms)


def batch_norm(
    x: Operand,
    gamma: Operand,
    beta: Operand,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    decay: float = 0.9,
    eps: float = 2e-5,
) -> Variable:
    """Batch normalization over every axis but 1 (the channel axis of ``(N, C, ...)``).

    Train mode uses the batch statistics and updates ``running_mean``/``running_var`` in
    place (when given); ``test_mode()`` uses the running statistics. DeZero's argument order.
    """
    return BatchNorm(running_mean, running_var, decay, eps)(x, gamma, beta)


def _sample_embed_id(draw: Draw) -> Case:
    vocabulary = draw.integer(1, 5)
    shape = draw.shape(min_dims=1, max_dims=2)
    ids = np.array([draw.integer(0, vocabulary - 1) for _ in range(math.prod(shape))])
    width = draw.choice([(), (draw.integer(1, 3),)])
    return Case((draw.array((vocabulary, *width)),), {"ids": ids.reshape(shape)})


@ops.declare(
    "embed_id",
    domains=Domain(-3.0, 3.0),
    sample=_sample_embed_id,
    order=3,
    description="W[ids], ids integer",
    error_inputs=(
        ErrorInput((np.ones((4, 3)),), ValueError, r"id 5 .* out of range", {"ids": np.array([5])}),
    ),
)
class EmbedID(Function):
    """Rows of ``W`` picked by integer ``ids`` (a parameter): ``W[ids]``. The gradient
    scatter-adds into ``W`` (a repeated id gets the sum of its rows' gradients)."""

    saves_inputs = saves_output = False

    def __init__(self, ids: Array | Sequence[int] | int) -> None:
        if isinstance(ids, Variable):
            raise TypeError("embed_id: ids are a Variable; pass the integer array itself")
        try:
            arr = np.asarray(ids)
        except ValueError:
            arr = np.asarray(ids, dtype=object)
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"embed_id: ids must be integers, got {given(ids)} of dtype {arr.dtype}; "
                "convert with ids.astype(int)"
            )
        self.ids = arr

    def forward(self, W: Array) -> Array:  # noqa: N803
        self.w_shape = W.shape
        if W.ndim == 0:
            raise ValueError("embed_id: W must have at least one dimension, (vocabulary, ...)")
        size, ids = W.shape[0], self.ids
        bad = (ids < 0) | (ids >= size)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
            raise ValueError(
                f"embed_id: id {int(np.atleast_1d(ids)[where])} at index {where} is out of "
                f"range for W of shape {W.shape} (valid ids: 0 to {size - 1})"
            )
        result: Array = W[ids]
        return result

    def backward(self, gy: Variable) -> Variable:
        return scatter_add(gy, self.ids, self.w_shape)

    def backward_array(self, gy: Array) -> Array:
        return scatter_add_array(gy, self.ids, self.w_shape)

    jvp = linear_jvp  # linear: the op itself on the tangent
    jvp_array = linear_jvp_array


def embed_id(ids: Array | Sequence[int] | int, W: Operand) -> Variable:  # noqa: N803
    """``W[ids]``: the embedding rows of integer ``ids`` (DeZero's argument order)."""
    return EmbedID(ids)(W)
