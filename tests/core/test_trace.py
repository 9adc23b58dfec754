"""``dezero_ext.trace``: a traced function gives what the function gives, on every call, or
raises; it never replays a stale tape."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

import dezero_ext_nn as nn
import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
from dezero_ext import Array, Function, TraceError, Variable, detect_anomaly, no_grad, trace
from dezero_ext.ops import exp
from dezero_ext_math import tanh
from dezero_ext_nn import models, optimizers


def _f(x: Variable, y: Variable) -> Variable:
    return (tanh(x) * y + exp(x * 0.5)).sum()


def _grads(
    fn: Callable[[Variable, Variable], Variable], a: np.ndarray, b: np.ndarray
) -> tuple[float, Array, Array]:
    x, y = Variable(a.copy()), Variable(b.copy())
    z = fn(x, y)
    z.backward()
    assert x.grad is not None and y.grad is not None
    return float(z.data), x.grad.data, y.grad.data


def test_every_call_gives_the_functions_values_and_gradients() -> None:
    traced = trace(_f)
    rng = np.random.default_rng(0)
    for _ in range(4):
        a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
        got, want = _grads(traced, a, b), _grads(_f, a, b)
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[2], want[2])
    assert traced.traces == 1  # recorded once, replayed since


def test_a_number_argument_is_read_anew_not_fixed_at_the_first_call() -> None:
    traced = trace(lambda x, c: (x * c).sum())
    x = Variable(np.ones(3))
    assert float(traced(x, 2.0).data) == 6.0
    assert float(traced(x, 5.0).data) == 15.0
    y = traced(x, 7.0)
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [7.0, 7.0, 7.0])


def test_a_new_shape_dtype_or_mode_traces_again() -> None:
    traced = trace(lambda x: (x * x).sum())
    traced(Variable(np.ones(3)))
    traced(Variable(np.ones(3)))
    assert traced.traces == 1
    assert float(traced(Variable(np.ones(4))).data) == 4.0
    assert traced(Variable(np.ones(4, np.float32))).dtype == np.float32
    with no_grad():
        traced(Variable(np.ones(4)))
    assert traced.traces == 4


class _Positive(Function):
    """The positive elements of x: an output shape that depends on the values."""

    def forward(self, x: Array) -> Array:
        self.mask = x > 0
        out: Array = x[self.mask]
        return out

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        g = np.zeros(x.shape)
        g[self.mask] = gy.data
        return Variable(g)


def test_an_output_shape_that_depends_on_the_values_is_never_replayed_stale() -> None:
    traced = trace(lambda x: _Positive()(x) * 2.0)
    for values in ([1.0, -2.0, 3.0], [4.0, 5.0, -1.0], [-1.0, -1.0, 6.0], [1.0, 1.0, 1.0]):
        x = Variable(np.array(values))
        y = traced(x)
        np.testing.assert_array_equal(y.data, 2.0 * np.array([v for v in values if v > 0]))
        y.backward()
        assert x.grad is not None
        np.testing.assert_array_equal(x.grad.data, [2.0 if v > 0 else 0.0 for v in values])
    assert traced.traces == 3  # shapes (2,), (2,), (1,), (3,): a new shape traces again


def test_ops_drawing_random_numbers_draw_on_every_call() -> None:
    traced = trace(lambda x: nn.dropout(x, 0.5))
    x = np.ones(1000)
    first, second = traced(x).data, traced(x).data
    assert traced.traces == 1 and not np.array_equal(first, second)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (lambda x: x * float(x.data.sum()), "reading .data"),
        (lambda x: x if x.sum() else -x, "bool()"),
        (lambda x: x * len(x), "len()"),
    ],
)
def test_looking_at_a_traced_value_raises_instead_of_fixing_it(
    body: Callable[[Variable], Variable], what: str
) -> None:
    traced = trace(body)
    with pytest.raises(TraceError, match=rf"trace\(<lambda>\): {what}.*JAX's jit"):
        traced(Variable(np.ones(3)))


def test_backward_of_an_earlier_call_after_a_later_one_is_right() -> None:
    traced = trace(_f)
    a1, b1 = np.full((2, 2), 0.3), np.full((2, 2), -1.2)
    a2, b2 = np.full((2, 2), 2.0), np.full((2, 2), 0.7)
    x1, y1 = Variable(a1.copy()), Variable(b1.copy())
    z1 = traced(x1, y1)
    z2 = traced(Variable(a2), Variable(b2))  # the tape now holds this call's values
    z1.backward()
    _, gx, gy = _grads(_f, a1, b1)
    assert x1.grad is not None and y1.grad is not None
    np.testing.assert_array_equal(x1.grad.data, gx)
    np.testing.assert_array_equal(y1.grad.data, gy)
    del z2


def test_a_traced_call_is_one_node_of_an_eager_graph() -> None:
    traced = trace(lambda x: tanh(x) * 3.0)
    x = Variable(np.array([0.1, 0.2]))
    y = (traced(x * 2.0) ** 2).sum()  # eager ops before and after the traced call
    y.backward()
    x2 = Variable(np.array([0.1, 0.2]))
    ((tanh(x2 * 2.0) * 3.0) ** 2).sum().backward()
    assert x.grad is not None and x2.grad is not None
    np.testing.assert_allclose(x.grad.data, x2.grad.data, rtol=1e-15)


def test_higher_derivatives_through_a_traced_call_raise_naming_the_fix() -> None:
    traced = trace(lambda x: (x**3).sum())
    x = Variable(np.array([1.0, 2.0]))
    y = traced(x)
    with pytest.raises(TraceError, match="first order.*not traced"):
        y.backward(create_graph=True)


def test_a_written_input_between_forward_and_backward_raises_as_eager() -> None:
    traced = trace(lambda x: (x * x).sum())
    x = Variable(np.array([1.0, 2.0]))
    y = traced(x)
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_under_detect_anomaly_a_traced_function_runs_eagerly() -> None:
    from dezero_ext_math import log

    traced = trace(lambda x: log(x))
    with detect_anomaly(), pytest.raises(FloatingPointError, match="log"):
        traced(Variable(np.array(-1.0))).backward()
    assert traced.traces == 0


def test_bad_arguments_and_results_are_named() -> None:
    with pytest.raises(TypeError, match=r"argument 1 is a bool array.*integer arrays"):
        trace(lambda x, t: x)(Variable(np.ones(2)), np.array([True, False]))
    with pytest.raises(TraceError, match=r"integer argument 0 .* reached no op"):
        trace(lambda x, t: x)(Variable(np.ones(2)), np.array([1, 2]))
    with pytest.raises(TypeError, match="by position"):
        trace(lambda x: x)(x=Variable(np.ones(2)))
    with pytest.raises(TypeError, match="returned tuple"):
        trace(lambda x: (x, x))(Variable(np.ones(2)))  # type: ignore[arg-type, return-value]  # the error under test
    with pytest.raises(TypeError, match="expected a function"):
        trace(3)  # type: ignore[arg-type]  # the error under test


def test_threads_calling_one_traced_function_get_their_own_gradients() -> None:
    traced = trace(_f)
    rng = np.random.default_rng(3)
    inputs = [(rng.normal(size=(5,)), rng.normal(size=(5,))) for _ in range(8)]
    want = [_grads(_f, a, b) for a, b in inputs]
    got: dict[int, tuple[float, Array, Array]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(50):
                got[i] = _grads(traced, *inputs[i])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(8):
        assert got[i][0] == want[i][0]
        np.testing.assert_array_equal(got[i][1], want[i][1])
        np.testing.assert_array_equal(got[i][2], want[i][2])


def test_a_traced_model_trains_exactly_as_the_eager_one() -> None:
    def make() -> tuple[nn.models.MLP, optimizers.SGD]:
        np.random.seed(0)
        model = models.MLP((16, 3))
        model(np.zeros((1, 5)))  # the weights, from the seeded state
        return model, optimizers.SGD(0.1).setup(model)

    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(32, 5)), rng.integers(0, 3, 32)
    (eager, opt_e), (model, opt_t) = make(), make()
    traced = trace(model)
    for _ in range(5):
        for m, o, call in ((eager, opt_e, eager), (model, opt_t, traced)):
            loss = F.softmax_cross_entropy(call(x), t)
            m.cleargrads()
            loss.backward()
            o.update()
    assert traced.traces == 1
    for p, q in zip(eager.params(), model.params(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_a_function_keeping_what_it_computed_raises_instead_of_replaying_stale_state() -> None:
    rnn = nn.layers.RNN(4)
    with pytest.raises(TraceError, match=r"kept a value it computed \(in the attributes of a RNN"):
        trace(rnn)(np.ones((1, 3)))
    kept: list[Variable] = []

    def remember(x: Variable) -> Variable:
        y = x * 2.0
        kept.append(y)
        return y.sum()

    with pytest.raises(TraceError, match=r"\(in a list\)"):
        trace(remember)(np.ones(2))
    last: Variable | None = None

    def remember_last(x: Variable) -> Variable:
        nonlocal last
        last = x * 3.0
        return last.sum()

    with pytest.raises(TraceError, match=r"\(in a cell\)"):
        trace(remember_last)(np.ones(2))


class _Dropped(nn.Model):
    def __init__(self) -> None:
        super().__init__()
        self.l0 = nn.layers.Linear(8)

    def forward(self, x: Variable) -> Variable:
        return nn.dropout(self.l0(x), 0.5)


def test_a_models_mode_change_traces_again() -> None:
    model = _Dropped()
    traced = trace(model)
    x = np.ones((4, 3))
    assert (traced(x).data == 0).any()  # dropout, training
    model.eval()
    with no_grad():
        want = model(x).data
    np.testing.assert_array_equal(traced(x).data, want)  # no dropout in eval mode
    assert traced.traces == 2


def test_an_op_runs_in_the_mode_it_was_recorded_in() -> None:
    from dezero_ext import test_mode
    from dezero_ext_nn.layer_ops import Dropout

    def half_inference(x: Variable) -> Variable:
        with test_mode():
            kept = Dropout(0.5)(x)  # its forward reads the mode: the identity here
        return kept * 2.0

    traced = trace(half_inference)
    x = np.ones(100)
    traced(x)
    np.testing.assert_array_equal(traced(x).data, np.full(100, 2.0))


class _OwnCall(Function):
    """A Function that overrides __call__ (runs forward itself): the trace cannot see it."""

    def forward(self, x: Array) -> Array:
        out: Array = x * 3.0
        return out

    def backward(self, gy: Variable) -> Variable:
        return gy * 3.0

    def __call__(self, *inputs: object) -> Variable:
        return Function.__call__.__wrapped__(self, *inputs)  # type: ignore[attr-defined, no-any-return]  # bypasses the recording


def test_an_op_the_recording_cannot_see_is_an_error_not_a_stale_constant() -> None:
    traced = trace(lambda x: _OwnCall()(x).sum())
    with pytest.raises(
        TraceError, match="computed a value from the arguments without being recorded"
    ):
        traced(Variable(np.ones(2)))


def test_forward_mode_runs_a_traced_function_eagerly_and_is_refused_inside_a_recording() -> None:
    from dezero_ext import func

    traced = trace(lambda x: (tanh(x) * x).sum())
    x = np.array([0.3, -0.7])
    _, tangent = func.jvp(traced, (x,), (np.ones(2),))
    _, want = func.jvp(lambda v: (tanh(v) * v).sum(), (x,), (np.ones(2),))
    np.testing.assert_array_equal(tangent, want)
    assert traced.traces == 0

    def opens_a_pass(v: Variable) -> Variable:
        func.jvp(lambda w: w * 2.0, (np.ones(2),), (np.ones(2),))
        return (v * v).sum()

    with pytest.raises(TraceError, match="forward-mode pass"):
        trace(opens_a_pass)(np.ones(2))
