"""Layers and models (dezero_ext_nn.layers, dezero_ext_nn.models): registration, parameter
creation, dtypes, each layer's computation against NumPy, recurrent state."""

from __future__ import annotations

import numpy as np
import pytest

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's alias
from dezero_ext import Parameter, Variable, no_grad, test_mode
from dezero_ext_nn.models import MLP, Model, Sequential

RNG = np.random.default_rng(11)


class TwoParams(L.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.z = Parameter(np.zeros(2), name="z")
        self.inner = L.Linear(3, in_size=2)
        self.a = Parameter(np.ones(1), name="a")

    def forward(self, x: Variable) -> Variable:
        return self.inner(x) * self.a + self.z.sum()


# ---------------------------------------------------------------------- the registry
def test_parameters_and_sublayers_come_in_definition_order_with_their_paths() -> None:
    layer = TwoParams()
    assert [path for path, _ in layer.namedparams()] == ["z", "inner/W", "inner/b", "a"]
    assert list(layer.params()) == [layer.z, layer.inner.W, layer.inner.b, layer.a]


def test_reassigning_a_name_to_something_else_unregisters_it() -> None:
    layer = TwoParams()
    layer.a = None  # type: ignore[assignment]  # what a user may do; the name leaves the registry
    assert [path for path, _ in layer.namedparams()] == ["z", "inner/W", "inner/b"]
    layer.a = Parameter(np.ones(1))
    assert [path for path, _ in layer.namedparams()][-1] == "a"
    del layer.z
    assert [path for path, _ in layer.namedparams()] == ["inner/W", "inner/b", "a"]


def test_a_shared_parameter_or_layer_is_listed_once() -> None:
    shared = L.Linear(2, in_size=2)
    model = Sequential(shared, F.relu, shared)
    assert len(list(model.params())) == 2
    assert [path for path, _ in model.namedparams()] == ["l0/W", "l0/b"]


def test_a_subclass_that_forgets_super_init_still_registers() -> None:
    class Forgetful(L.Layer):
        def __init__(self) -> None:
            self.w = Parameter(np.ones(2))

        def forward(self, x: Variable) -> Variable:
            return x * self.w

    assert [path for path, _ in Forgetful().namedparams()] == ["w"]

    class Bare(L.Layer):
        def __init__(self) -> None:
            pass

    bare = Bare()
    assert list(bare.params()) == [] and bare.built and repr(bare) == "Bare()"


def test_cleargrads_clears_every_parameter() -> None:
    model = MLP((4, 2))
    loss = F.sum(model(RNG.standard_normal((3, 5))))
    loss.backward()
    assert all(p.grad is not None for p in model.params())
    model.cleargrads()
    assert all(p.grad is None for p in model.params())


def test_repr_shows_the_tree_and_what_is_not_created_yet() -> None:
    text = repr(MLP((4, 2)))
    assert "l0: Linear(" in text and "W: (?, 4) float32, created at the first call" in text


# ---------------------------------------------------------------------- Linear
def test_linear_creates_its_weight_at_the_first_call_from_the_last_axis() -> None:
    layer = L.Linear(4)
    assert layer.in_size is None and not layer.built
    x = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    y = layer(x)
    assert layer.in_size == 5 and layer.built
    assert layer.W.shape == (5, 4) and y.shape == (2, 3, 4)
    assert layer.b is not None
    np.testing.assert_allclose(y.data, x @ layer.W.data + layer.b.data, rtol=1e-6)


def test_linear_weight_scale_and_dtype() -> None:
    np.random.seed(0)
    layer = L.Linear(400, in_size=100)
    assert layer.W.dtype == np.float32 and layer.b is not None and layer.b.dtype == np.float32
    assert abs(float(layer.W.data.std()) - np.sqrt(1 / 100)) < 0.005
    np.testing.assert_array_equal(layer.b.data, 0)
    assert L.Linear(3, nobias=True, in_size=2).b is None
    assert L.Linear(3, dtype=np.float64, in_size=2).W.dtype == np.float64


def test_a_float32_layer_computes_in_float32_on_float64_data() -> None:
    layer = L.Linear(3, in_size=2)
    y = layer(RNG.standard_normal((4, 2)))  # float64 batch, as np.random gives
    assert y.dtype == np.float32
    F.sum(y).backward()
    assert layer.W.grad is not None and layer.W.grad.dtype == np.float32


def test_a_float64_input_variable_gets_its_gradient_in_float64() -> None:
    layer = L.Linear(3, in_size=2)
    x = Variable(RNG.standard_normal((4, 2)))
    F.sum(layer(x)).backward()
    assert x.grad is not None and x.grad.dtype == np.float64
    assert layer.W.grad is not None
    np.testing.assert_allclose(
        x.grad.data, np.ones((4, 3)) @ layer.W.data.T.astype(np.float64), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: L.Linear(0), "out_size must be at least 1"),
        (lambda: L.Linear(3.0), "out_size must be an int"),  # type: ignore[arg-type]  # the bad input tested
        (lambda: L.Linear(3, dtype=np.int32), "dtype must be a floating dtype"),
        (lambda: L.Conv2d(2, (3, 3, 3)), "kernel_size must be an int or a pair"),  # type: ignore[arg-type]  # the bad input tested
        (lambda: MLP(3), "fc_output_sizes must be a non-empty sequence"),  # type: ignore[arg-type]  # the bad input tested
    ],
)
def test_bad_arguments_are_named(make: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make()  # type: ignore[operator]  # a lambda


# ---------------------------------------------------------------------- Conv2d / Deconv2d
def test_conv2d_layer_matches_the_function_and_infers_channels() -> None:
    layer = L.Conv2d(4, kernel_size=3, stride=1, pad=1)
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    y = layer(x)
    assert layer.in_channels == 3 and layer.W.shape == (4, 3, 3, 3) and y.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(y.data, F.conv2d(x, layer.W, layer.b, 1, 1).data)


def test_deconv2d_layer_matches_the_function_and_infers_channels() -> None:
    layer = L.Deconv2d(2, kernel_size=(2, 3), stride=2)
    x = RNG.standard_normal((1, 3, 4, 4)).astype(np.float32)
    y = layer(x)
    assert layer.in_channels == 3 and layer.W.shape == (3, 2, 2, 3)
    np.testing.assert_allclose(y.data, F.deconv2d(x, layer.W, layer.b, 2, 0).data)


# ---------------------------------------------------------------------- BatchNorm
def test_batch_norm_layer_normalizes_and_keeps_running_statistics_as_buffers() -> None:
    layer = L.BatchNorm()
    x = (RNG.standard_normal((8, 3)) * 4 + 2).astype(np.float32)
    y = layer(x)
    np.testing.assert_allclose(y.data.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.data.std(axis=0), 1, atol=1e-3)
    assert [path for path, _ in layer.namedparams()] == ["gamma", "beta"]
    np.testing.assert_allclose(layer.avg_mean, 0.1 * x.mean(axis=0), rtol=1e-5)
    with test_mode():
        y_test = layer(x)
    expected = (x - layer.avg_mean) / np.sqrt(layer.avg_var + 2e-5)
    np.testing.assert_allclose(y_test.data, expected, rtol=1e-5)


# ---------------------------------------------------------------------- EmbedID
def test_embed_id_picks_rows_and_refuses_float_ids() -> None:
    layer = L.EmbedID(5, 3)
    ids = np.array([[0, 4], [4, 1]])
    np.testing.assert_array_equal(layer(ids).data, layer.W.data[ids])
    with pytest.raises(TypeError, match="ids"):
        layer(Variable(np.array([1.0])))


# ---------------------------------------------------------------------- RNN / LSTM
def test_rnn_keeps_state_and_its_recurrent_weight_is_hidden_by_hidden() -> None:
    layer = L.RNN(4, in_size=3)  # DeZero gave h2h the input size: (3, 4)
    assert layer.h2h.W.shape == (4, 4)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    h1 = layer(x)
    h2 = layer(x)
    assert layer.x2h.b is not None
    expected = np.tanh(x @ layer.x2h.W.data + layer.x2h.b.data + h1.data @ layer.h2h.W.data)
    np.testing.assert_allclose(h2.data, expected, rtol=1e-5)
    layer.reset_state()
    np.testing.assert_allclose(layer(x).data, h1.data)


def test_lstm_matches_its_equations_over_two_steps() -> None:
    layer = L.LSTM(3, in_size=2, dtype=np.float64)
    xs = RNG.standard_normal((2, 4, 2))

    def gate(name: str, x: np.ndarray, h: np.ndarray | None) -> np.ndarray:
        lx: L.Linear = getattr(layer, f"x2{name}")
        lh: L.Linear = getattr(layer, f"h2{name}")
        assert lx.b is not None
        value: np.ndarray = x @ lx.W.data + lx.b.data
        if h is not None:
            value = value + h @ lh.W.data
        return value

    def sig(a: np.ndarray) -> np.ndarray:
        result: np.ndarray = 1 / (1 + np.exp(-a))
        return result

    h: np.ndarray | None = None
    c: np.ndarray | None = None
    for x in xs:
        f, i, o = (sig(gate(n, x, h)) for n in "fio")
        u = np.tanh(gate("u", x, h))
        c = i * u if c is None else f * c + i * u
        h = o * np.tanh(c)
        np.testing.assert_allclose(layer(x).data, h, rtol=1e-12)
    layer.reset_state()
    assert layer.h is None and layer.c is None


# ---------------------------------------------------------------------- models
def test_mlp_is_linear_activation_linear() -> None:
    model = MLP((5, 2), activation=F.relu)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    y = model(x)
    l0, l1 = model.layers
    assert l0.b is not None and l1.b is not None
    hidden = np.maximum(x @ l0.W.data + l0.b.data, 0)
    np.testing.assert_allclose(y.data, hidden @ l1.W.data + l1.b.data, rtol=1e-5)
    assert [path for path, _ in model.namedparams()] == ["l0/W", "l0/b", "l1/W", "l1/b"]


def test_sequential_accepts_layers_and_functions() -> None:
    model = Sequential(L.Linear(4), F.sigmoid, L.Linear(2))
    assert model(np.ones((3, 5))).shape == (3, 2)
    assert [path for path, _ in model.namedparams()] == ["l0/W", "l0/b", "l2/W", "l2/b"]
    with pytest.raises(TypeError, match="item 0"):
        Sequential(3)  # type: ignore[arg-type]  # the bad input tested


def test_a_model_subclass_the_book_way() -> None:
    class TwoLayerNet(Model):
        def __init__(self, hidden_size: int, out_size: int) -> None:
            super().__init__()
            self.l1 = L.Linear(hidden_size)
            self.l2 = L.Linear(out_size)

        def forward(self, x: Variable) -> Variable:
            return self.l2(F.sigmoid(self.l1(x)))

    model = TwoLayerNet(10, 1)
    with no_grad():
        assert model(np.ones((2, 3))).shape == (2, 1)
    assert len(list(model.params())) == 4


def test_assigning_a_lazy_weights_data_creates_it_as_deZeros_tests_do() -> None:
    # DeZero's test_vgg16.py copies Chainer's weights with `layer.W.data = array` before the
    # first call: the layer must keep them, not draw its own at that call.
    linear = L.Linear(3)
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    linear.W.data = weights
    assert linear.in_size == 2 and linear.built
    y = linear(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(linear.W.data, weights)
    np.testing.assert_array_equal(y.data, [[3.0, 5.0, 7.0]])
    conv = L.Conv2d(4, 3)
    kernel = np.ones((4, 2, 3, 3), np.float32)
    conv.W.data = kernel
    conv(np.ones((1, 2, 5, 5), np.float32))
    np.testing.assert_array_equal(conv.W.data, kernel)


def test_assigned_lazy_data_of_the_wrong_shape_is_named() -> None:
    linear = L.Linear(3)
    linear.W.data = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"Linear\.W: the data assigned has shape \(2, 4\)"):
        linear(np.ones((1, 2), np.float32))
