"""check_layer: every bundled layer's gradients, with respect to its input and every
parameter, at first and second order; a wrong layer gets the report an op gets, naming the
input or parameter at fault; the pytest hook for a user's own layers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's alias
from dezero_ext import Array, Domain, Function, Parameter, Variable, test_mode
from dezero_ext.testing import CheckOptions, LayerCheckError, check_layer
from dezero_ext.testing.layers import CheckableLayer
from dezero_ext_nn.models import MLP, Sequential

EXAMPLES = 4
BOX = Domain(-2.0, 2.0)


@st.composite
def _spread_batch(draw: st.DrawFn, shape: tuple[int, ...]) -> Array:
    """Noise on a ramp over the batch axis: every channel's variance stays away from 0,
    where batch norm (1/std) is well conditioned."""
    noise = draw(hnp.arrays(np.float64, shape, elements=st.floats(-0.4, 0.4)))
    ramp = np.linspace(-1.5, 1.5, shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    return noise + ramp


def _ids(vocabulary: int, shape: tuple[int, ...]) -> st.SearchStrategy[Array]:
    return hnp.arrays(np.int64, shape, elements=st.integers(0, vocabulary - 1))


BUNDLED: list[tuple[str, Callable[[], CheckableLayer], dict[str, object]]] = [
    ("Linear", lambda: L.Linear(3), {"input_domain": BOX, "input_shape": (4, 2)}),
    (
        "Linear nobias, float32 weights",
        lambda: L.Linear(2, nobias=True, in_size=3),
        {"input_domain": BOX, "input_shape": (2, 3)},
    ),
    (
        "Conv2d",
        lambda: L.Conv2d(2, kernel_size=3, pad=1),
        {"input_domain": BOX, "input_shape": (1, 2, 3, 3)},
    ),
    (
        "Deconv2d",
        lambda: L.Deconv2d(2, kernel_size=2, stride=2),
        {"input_domain": BOX, "input_shape": (1, 2, 2, 2)},
    ),
    ("BatchNorm", L.BatchNorm, {"input_domain": _spread_batch((4, 3))}),
    ("BatchNorm NCHW", L.BatchNorm, {"input_domain": _spread_batch((3, 2, 2, 1))}),
    ("EmbedID", lambda: L.EmbedID(5, 3), {"input_domain": _ids(5, (2, 3))}),
    ("RNN", lambda: L.RNN(3), {"input_domain": BOX, "input_shape": (2, 2), "steps": 3}),
    ("LSTM", lambda: L.LSTM(2), {"input_domain": BOX, "input_shape": (2, 2), "steps": 3}),
    ("MLP", lambda: MLP((4, 3)), {"input_domain": BOX, "input_shape": (3, 2)}),
    (
        "Sequential",
        lambda: Sequential(L.Linear(3), F.tanh, L.BatchNorm(), L.Linear(2)),
        {"input_domain": _spread_batch((4, 2))},
    ),
]


@pytest.mark.parametrize(("name", "make", "options"), BUNDLED, ids=[case[0] for case in BUNDLED])
def test_every_bundled_layer_passes_at_first_and_second_order(
    name: str, make: Callable[[], CheckableLayer], options: dict[str, object]
) -> None:
    layer = make()
    result = check_layer(layer, **options, options=CheckOptions(examples=EXAMPLES))  # type: ignore[arg-type]  # the options of each case
    assert result.orders == (1, 2)
    assert result.examples == EXAMPLES
    assert set(result.params) == {path for path, _ in layer.namedparams()}
    assert result.params  # every bundled layer has parameters, all checked


def test_batch_norm_in_test_mode_and_float32() -> None:
    layer = L.BatchNorm()
    layer(np.random.default_rng(0).standard_normal((6, 3)))  # running statistics
    with test_mode():
        check_layer(layer, BOX, (2, 3), options=CheckOptions(examples=EXAMPLES))
    check_layer(L.Linear(3), BOX, (2, 2), dtype="float32", options=CheckOptions(examples=EXAMPLES))


def test_the_parameters_are_restored_after_the_check() -> None:
    layer = MLP((3, 2))
    check_layer(layer, BOX, (2, 2), options=CheckOptions(examples=2))
    assert all(type(p) is Parameter for p in layer.params())
    assert [path for path, _ in layer.namedparams()] == ["l0/W", "l0/b", "l1/W", "l1/b"]


# ---------------------------------------------------------------------- wrong layers
class _TimesW(Function):
    """x @ W with a backward that can be wrong for x or for W."""

    def __init__(self, x_factor: float = 1.0, w_factor: float = 1.0) -> None:
        self.x_factor, self.w_factor = x_factor, w_factor

    def forward(self, x: Array, W: Array) -> Array:
        result: Array = x @ W
        return result

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x, W = self.inputs
        return (gy @ W.T) * self.x_factor, (x.T @ gy) * self.w_factor


class Dense(L.Layer):
    def __init__(self, x_factor: float = 1.0, w_factor: float = 1.0) -> None:
        super().__init__()
        self.W = Parameter(np.random.default_rng(0).standard_normal((2, 3)))
        self.b = Parameter(np.zeros(3))
        self.factors = (x_factor, w_factor)

    def forward(self, x: Variable) -> Variable:
        return _TimesW(*self.factors)(x, self.W) + self.b


def test_a_wrong_parameter_gradient_is_caught_and_named() -> None:
    with pytest.raises(LayerCheckError) as info:
        check_layer(Dense(w_factor=2.0), BOX, (3, 2), options=CheckOptions(examples=EXAMPLES))
    error = info.value
    assert error.culprit == "parameter 'W' (2, 3)"
    report = str(error)
    assert report.startswith("gradient mismatch: op 'Dense', order 1, float64")
    assert "input 1 (x1): parameter 'W' (2, 3)" in report
    assert "fault in:      the gradient with respect to parameter 'W' (2, 3)" in report
    assert "factor off by 2" in report
    reproduce = "check_layer(layer, inputs=[x0], dtype='float64', options=CheckOptions(orders=(1,)"
    assert f"reproduce:     {reproduce}" in report


def test_a_wrong_input_gradient_is_named() -> None:
    with pytest.raises(LayerCheckError) as info:
        check_layer(Dense(x_factor=-1.0), BOX, (3, 2), options=CheckOptions(examples=EXAMPLES))
    assert info.value.culprit == "the layer's input"


class _CubeWithConstantGradient(Function):
    """x³ whose backward computes 3x² from arrays: right at order 1, wrong at order 2."""

    def forward(self, x: Array) -> Array:
        result: Array = x**3
        return result

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return Variable(3 * x.data**2) * gy


class Cubic(L.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.scale = Parameter(np.array([0.5, -1.0]))

    def forward(self, x: Variable) -> Variable:
        return _CubeWithConstantGradient()(x * self.scale)


def test_a_gradient_wrong_only_at_second_order_is_caught_at_second_order() -> None:
    check_layer(Cubic(), BOX, (3, 2), options=CheckOptions(max_order=1, examples=EXAMPLES))
    with pytest.raises(LayerCheckError) as info:
        check_layer(Cubic(), BOX, (3, 2), options=CheckOptions(examples=EXAMPLES))
    assert info.value.failure.order == 2
    assert "order 2 only" in str(info.value)


def test_orders_stop_where_the_layers_ops_declare() -> None:
    # RNN adds with `+` (the op "add" declares order 2): order 3 is not asked of it.
    result = check_layer(
        L.RNN(2), BOX, (2, 2), steps=2, options=CheckOptions(max_order=3, examples=2)
    )
    assert result.orders == (1, 2)
    assert "add" in result.capped_by
    assert (
        check_layer(L.RNN(2), BOX, (2, 2), steps=2, options=CheckOptions(examples=2)).capped_by
        == ()
    )


def test_explicit_inputs_check_one_example() -> None:
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    result = check_layer(L.Linear(2), inputs=[x], options=CheckOptions(orders=(1,)))
    assert result.examples == 1 and result.orders == (1,)
    with pytest.raises(LayerCheckError):
        check_layer(Dense(w_factor=3.0), inputs=[x])


def test_bad_calls_say_what_to_pass() -> None:
    with pytest.raises(TypeError, match="give input_shape with a Domain"):
        check_layer(L.Linear(2), BOX)
    with pytest.raises(TypeError, match="give input_domain"):
        check_layer(L.Linear(2))

    class Hidden(L.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.inner = L.Linear(2, in_size=2)

        def namedparams(self):  # type: ignore[no-untyped-def]  # a wrong path on purpose
            yield "secret/W", self.inner.W

        def forward(self, x: Variable) -> Variable:
            return self.inner(x)

    with pytest.raises(TypeError, match="not a chain of attributes"):
        check_layer(Hidden(), BOX, (2, 2), options=CheckOptions(examples=1))


# ---------------------------------------------------------------------- the pytest hook
CONFTEST = """
import numpy as np
from dezero_ext import Domain, Function, Parameter
from dezero_ext.testing import CheckOptions, LayerCase
from dezero_ext_nn.layers import RNN, Layer, Linear


class Twice(Function):
    def forward(self, x, W):
        return x @ W

    def backward(self, gy):
        x, W = self.inputs
        return gy @ W.T, 2 * (x.T @ gy)


class Bad(Layer):
    def __init__(self):
        super().__init__()
        self.W = Parameter(np.ones((2, 2)))

    def forward(self, x):
        return Twice()(x, self.W)


def pytest_dezero_ext_layers(config):
    box = Domain(-1, 1)
    three = CheckOptions(max_order=3, examples=2)
    return [
        LayerCase("good", lambda: Linear(3), box, (2, 2), options=CheckOptions(examples=3)),
        LayerCase("bad", Bad, box, (2, 2), options=CheckOptions(max_order=1, examples=3)),
        LayerCase("rnn", lambda: RNN(2), box, (2, 2), steps=2, options=three),
    ]
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_pytest_hook_checks_a_users_layers(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_other.py").write_text("def test_other():\n    pass\n")
    result = _pytest(tmp_path, "-vv")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "dezero_ext_layers::good[order1] PASSED" in out
    assert "dezero_ext_layers::good[order2] PASSED" in out
    assert "dezero_ext_layers::bad[order1] FAILED" in out
    assert "fault in:      the gradient with respect to parameter 'W' (2, 2)" in out
    assert "dezero_ext_layers::rnn[order2] PASSED" in out
    assert "dezero_ext_layers::rnn[order3] SKIPPED" in out  # "add" declares order 2
    only_file = _pytest(tmp_path, "test_other.py")
    assert "1 passed" in only_file.stdout and "dezero_ext_layers" not in only_file.stdout
    asked = _pytest(tmp_path, "test_other.py", "--dezero-ext-layers", "-k", "good")
    assert "2 passed" in asked.stdout, asked.stdout


def test_the_layer_plugin_loads_without_hypothesis() -> None:
    # pytest loads it in every project that installs dezero-ext, Hypothesis or not.
    code = (
        "import sys, dezero_ext.testing.layer_plugin, dezero_ext.testing\n"
        "dezero_ext.testing.LayerCase  # the toolkit names resolve on first use...\n"
        "assert 'hypothesis' in sys.modules  # ...and bring Hypothesis then\n"
    )
    before = "import sys, dezero_ext.testing.layer_plugin\nassert 'hypothesis' not in sys.modules\n"
    for source in (before, code):
        result = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
