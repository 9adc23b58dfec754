"""Integer arguments of a traced function (class labels) are inputs read anew on every call,
never constants fixed at the first; ``Traced.value_and_grads`` replays with no graph node and
hands out arrays no later call touches."""

from __future__ import annotations

import numpy as np
import pytest

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Array, Function, TraceError, Variable, detect_anomaly, trace
from dezero_ext_nn import models


def _model() -> models.MLP:
    model = models.MLP((6, 4))
    model(np.zeros((1, 3)))
    return model


def _eager(model: models.MLP, x: Array, t: Array) -> tuple[float, list[Array]]:
    model.cleargrads()
    loss = F.softmax_cross_entropy(model(x), t)
    loss.backward()
    return float(loss.data), [p.grad.data.copy() for p in model.params() if p.grad is not None]


def test_labels_are_read_anew_on_every_call() -> None:
    model, rng = _model(), np.random.default_rng(0)
    traced = trace(lambda x, t: F.softmax_cross_entropy(model(x), t))
    x = rng.normal(size=(5, 3))
    for _ in range(4):
        t = rng.integers(0, 4, size=5)
        want = _eager(model, x, t)
        model.cleargrads()
        loss = traced(x, t)
        loss.backward()
        assert float(loss.data) == want[0]
        for p, g in zip(model.params(), want[1], strict=True):
            assert p.grad is not None
            np.testing.assert_array_equal(p.grad.data, g)
    assert traced.traces == 1
    traced(x, rng.integers(0, 4, size=5).astype(np.int32))  # another dtype: a new key
    traced(x[:4], rng.integers(0, 4, size=4))  # another shape
    assert traced.traces == 3


def test_an_earlier_calls_backward_uses_its_own_labels() -> None:
    model = _model()
    traced = trace(lambda x, t: F.softmax_cross_entropy(model(x), t))
    x = np.random.default_rng(1).normal(size=(4, 3))
    t1, t2 = np.array([0, 1, 2, 3]), np.array([3, 3, 0, 0])
    want = _eager(model, x, t1)
    model.cleargrads()
    first = traced(x, t1)
    traced(x, t2)  # the tape now holds the second call's labels
    first.backward()
    for p, g in zip(model.params(), want[1], strict=True):
        assert p.grad is not None
        np.testing.assert_array_equal(p.grad.data, g)


def test_wrong_labels_are_refused_on_a_replay_too() -> None:
    model = _model()
    traced = trace(lambda x, t: F.softmax_cross_entropy(model(x), t))
    x = np.zeros((2, 3))
    traced(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="label 4 .* out of range"):
        traced(x, np.array([0, 4]))  # the op's own check runs in its forward


class _Pick(Function):
    """``x[i, k[i]]`` for a column index per row kept as an attribute (as a loss keeps its
    labels); ``keep`` says what of ``k`` it keeps."""

    def __init__(self, k: Array, keep: str = "whole") -> None:
        k = np.asarray(k)
        self.k = k if keep == "whole" else k[::-1] if keep == "part" else np.array(k)

    def forward(self, x: Array) -> Array:
        result: Array = x[np.arange(x.shape[0]), self.k]
        return result

    def backward_array(self, gy: Array) -> Array:
        g = np.zeros(self.inputs[0].shape)
        g[np.arange(g.shape[0]), self.k] = gy
        return g


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda x, k: _Pick(k + 1)(x).sum(), "computing with an integer argument"),
        (lambda x, k: _Pick(k[:2])(x).sum(), "indexing an integer argument"),
        (lambda x, k: _Pick(k.astype(np.int32))(x).sum(), r"astype\(\) of an integer"),
        (lambda x, k: _Pick(np.where(k > 0, k, 0))(x).sum(), "integer argument"),
        (lambda x, k: _Pick(k, keep="part")(x).sum(), "keeps a part or a reshaped view"),
        (lambda x, k: _Pick(k, keep="copy")(x).sum(), r"integer argument 0 .* reached no op"),
    ],
)
def test_labels_computed_on_or_copied_while_tracing_are_refused(fn: object, match: str) -> None:
    with pytest.raises(TraceError, match=match):
        trace(fn)(Variable(np.ones((3, 3))), np.array([0, 1, 2]))  # type: ignore[arg-type]  # fn


def test_an_integer_argument_kept_whole_is_a_guarded_input() -> None:
    traced = trace(lambda x, k: _Pick(k)(x).sum())
    x = Variable(np.arange(9.0).reshape(3, 3))
    assert float(traced(x, np.array([0, 1, 2])).data) == 0 + 4 + 8
    k = np.array([2, 2, 0])
    y = traced(x, k)
    assert float(y.data) == 2 + 5 + 6
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 1], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(k, [2, 2, 0])  # the caller's array is not written
    assert traced.traces == 1


def test_value_and_grads_gives_arrays_no_later_call_touches() -> None:
    model, rng = _model(), np.random.default_rng(2)
    traced = trace(lambda x, t: F.softmax_cross_entropy(model(x), t))
    x, t = rng.normal(size=(5, 3)), rng.integers(0, 4, size=5)
    first = traced.value_and_grads(x, t)
    assert first is not None
    value, live, grads = first
    kept = [value.copy(), *[g.copy() for g in grads if g is not None]]
    want = _eager(model, x, t)
    assert float(value) == want[0]
    order = [id(p) for p in model.params()]
    for v, g in zip(live, grads, strict=True):
        assert g is not None
        np.testing.assert_array_equal(g, want[1][order.index(id(v))])
    for _ in range(3):  # later calls on other data: what the first handed out stays
        again = traced.value_and_grads(rng.normal(size=(5, 3)), rng.integers(0, 4, size=5))
        assert again is not None
        assert not any(np.shares_memory(a, b) for a in again[2] for b in grads if b is not None)
    for a, b in zip(kept, [value, *[g for g in grads if g is not None]], strict=True):
        np.testing.assert_array_equal(a, b)
    assert traced.traces == 1


class _Flicker(Function):
    """The first one or two elements, alternating on every forward of any instance: an
    output shape no recording can foresee."""

    calls = 0

    def forward(self, x: Array) -> Array:
        _Flicker.calls += 1
        result: Array = x[: 1 + _Flicker.calls % 2]
        return result

    def backward_array(self, gy: Array) -> Array:
        g = np.zeros(self.inputs[0].shape)
        g[: gy.shape[0]] = gy
        return g


def test_value_and_grads_leaves_eager_work_to_the_caller_where_it_cannot_replay() -> None:
    traced = trace(lambda x: (x * x).sum())
    with detect_anomaly():
        assert traced.value_and_grads(np.ones(3)) is None
    assert traced.value_and_grads(np.ones(3)) is not None
    flicker = trace(lambda x: (_Flicker()(x) * x[:1]).sum())
    assert flicker.value_and_grads(Variable(np.ones(3))) is None  # each replay's shape differs


def test_an_inlined_chain_keeps_each_calls_values_and_gradients() -> None:
    """0-d ops written into the replay as expressions hand their values to the backward in
    one box the next call overwrites: an earlier call's result and backward stay its own."""
    from dezero_ext.ops import exp

    def chain(v: Variable) -> Variable:
        for _ in range(3):
            v = exp((v * 2.0 + 1.0) ** 0.5 / 3.0) - 0.5
        return v

    traced = trace(chain)
    xs = [Variable(np.array(value)) for value in (0.3, 0.9, 1.7)]
    ys = [traced(x) for x in xs]  # each later call overwrites the tape's values
    held = [y.data.copy() for y in ys]
    for x, y, h in zip(reversed(xs), reversed(ys), reversed(held), strict=True):
        y.backward()  # the oldest calls last: their forward runs again first
        eager = Variable(np.array(x.data))
        chain(eager).backward()
        assert x.grad is not None and eager.grad is not None
        assert x.grad.data == eager.grad.data
        np.testing.assert_array_equal(y.data, h)
    assert traced.traces == 1
