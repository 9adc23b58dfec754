"""Moving a model, its optimizer and its loader to another array library and back
(``to_backend(xp)``, the work behind ``to_gpu()``/``to_cpu()``), with ``array-api-strict``
standing in for CuPy: this machine has no GPU, so the CuPy path itself never runs here
(``test_train_cuda.py`` holds its tests, skipped with that reason). Needs array-api-strict and
Dask (``pip install -e '.[array-api,dask]'``); CI's step 3 installs them and runs this file.

The core holds array-api-strict arrays as Variable data (issue 23, item 1; the fixture
``core_holds_strict`` asserts it); ``test_a_core_that_cannot_hold_the_arrays_moves_nothing``
checks the refusal a core without that support gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import dezero_ext.core.variable as core_variable
import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's name
from dezero_ext import Array, Variable
from dezero_ext_nn import layer_ops, optimizers
from dezero_ext_nn.dataloaders import DataLoader
from dezero_ext_nn.datasets import Dataset, Spiral, get_spiral
from dezero_ext_nn.models import MLP, Model

xp = pytest.importorskip("array_api_strict")
da = pytest.importorskip("dask.array")


def _strict(a: object) -> bool:
    return type(a).__module__.startswith("array_api_strict")


@pytest.fixture
def core_holds_strict() -> None:
    """Variables hold array-api-strict arrays as they are (the core's own support)."""
    assert _strict(Variable(xp.ones(1)).data)


class Net(Model):
    """A Linear, a BatchNorm (buffers) and a Linear built at once."""

    def __init__(self) -> None:
        super().__init__()
        self.l0 = L.Linear(4)
        self.bn = L.BatchNorm(dtype=np.float64)
        self.l1 = L.Linear(3, in_size=4, dtype=np.float64)

    def forward(self, x: Any) -> Variable:
        return self.l1(F.sigmoid(self.bn(self.l0(x))))


def _trained() -> tuple[Net, list[optimizers.Optimizer]]:
    np.random.seed(0)
    model = Net()
    opts: list[optimizers.Optimizer] = [
        optimizers.MomentumSGD(0.1).setup(model),
        optimizers.Adam(0.01).setup(model),
        optimizers.AdaDelta().setup(model),
    ]
    x, t = get_spiral()
    for _ in range(2):
        loss = F.softmax_cross_entropy(model(x[:30]), t[:30])
        model.cleargrads()
        loss.backward()
        for opt in opts:
            opt.update()
    return model, opts


def _arrays(model: Net, opts: list[optimizers.Optimizer]) -> Iterator[tuple[str, Any]]:
    """Every array the move concerns, named."""
    for path, param in model.namedparams():
        yield path, param.data
        assert param.grad is not None
        yield f"{path}.grad", param.grad.data
    for name in ("avg_mean", "avg_var"):
        yield f"bn/{name}", getattr(model.bn, name)
    for opt in opts:
        for key, store in vars(opt).items():
            if key in ("vs", "msg", "msdx"):
                for i, state in enumerate(store.values()):
                    yield f"{type(opt).__name__}.{key}[{i}]", state
            if key == "moments":
                for i, moments in enumerate(store.values()):
                    yield f"Adam.m[{i}]", moments.m
                    yield f"Adam.v[{i}]", moments.v


@pytest.mark.usefixtures("core_holds_strict")
def test_a_model_and_its_optimizers_move_and_come_back_bit_equal() -> None:
    model, opts = _trained()
    before = {name: np.array(a, copy=True) for name, a in _arrays(model, opts)}
    assert len(before) == 6 * 2 + 2 + 6 + 6 * 2 + 6 * 2  # 6 params and grads, 2 buffers, states
    model.to_backend(xp)
    for opt in opts:
        opt.to_backend(xp)
    moved = dict(_arrays(model, opts))
    assert [name for name, a in moved.items() if not _strict(a)] == []
    for name, a in moved.items():
        np.testing.assert_array_equal(np.asarray(a), before[name], err_msg=name)
        assert np.asarray(a).dtype == before[name].dtype, name
    model.to_cpu()
    for opt in opts:
        opt.to_cpu()
    back = dict(_arrays(model, opts))
    assert [name for name, a in back.items() if type(a) is not np.ndarray] == []
    for name, a in back.items():
        np.testing.assert_array_equal(a, before[name], err_msg=name)

    # nothing was lost on the way: the next step is the step of a model that never moved
    stayed, stayed_opts = _trained()
    x, t = get_spiral()
    for net, its_opts in ((model, opts), (stayed, stayed_opts)):
        loss = F.softmax_cross_entropy(net(x[30:60]), t[30:60])
        net.cleargrads()
        loss.backward()
        for opt in its_opts:
            opt.update()
    for (path, a), (_, b) in zip(model.namedparams(), stayed.namedparams(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=path)


@pytest.mark.usefixtures("core_holds_strict")
def test_an_optimizer_left_behind_says_so() -> None:
    model, opts = _trained()
    model.to_backend(xp)
    for opt in opts:
        with pytest.raises(TypeError, match=r"the model moved .* call optimizer\.to_gpu\(\)"):
            opt.update()


@pytest.mark.usefixtures("core_holds_strict")
def test_a_lazy_layer_moved_before_its_first_call_creates_its_weights_there() -> None:
    layer = L.Linear(3, dtype=np.float64)
    layer.to_backend(xp)
    assert _strict(layer.W.data) and layer.W.data.shape == (0, 3)
    assert layer.b is not None and _strict(layer.b.data)
    # the weight is made at the call; the NumPy batch is refused, not uploaded
    with pytest.raises(
        TypeError,
        match=r"Linear: its parameters are array_api_strict arrays "
        r"\(moved .*\) but the input is a numpy ndarray.*move the batches too",
    ):
        layer(np.ones((2, 5)))
    assert _strict(layer.W.data) and layer.W.data.shape == (5, 3)


def test_a_core_that_cannot_hold_the_arrays_moves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = core_variable.as_array

    def numpy_only(data: object) -> Array:
        if _strict(data):
            raise TypeError("Variable data must be a NumPy array")
        return original(data)

    monkeypatch.setattr(core_variable, "as_array", numpy_only)
    model, opts = _trained()
    before = {name: np.array(a, copy=True) for name, a in _arrays(model, opts)}
    with pytest.raises(
        TypeError,
        match=r"Net\.to_backend\(array_api_strict\): .*core cannot "
        r"hold array-api-strict arrays.*nothing was moved",
    ):
        model.to_backend(xp)
    for name, a in _arrays(model, opts):
        assert type(a) is np.ndarray, name
        np.testing.assert_array_equal(a, before[name], err_msg=name)


class DaskSpiral(Dataset[Array]):
    def prepare(self) -> None:
        x, t = get_spiral()
        self.data, self.label = da.from_array(x, chunks=(100, 2)), da.from_array(t, chunks=100)


@pytest.mark.parametrize("dataset", [Spiral, DaskSpiral])
def test_a_loader_gives_batches_of_the_backend_and_back(dataset: type[Dataset[Array]]) -> None:
    reference = [(x, t) for x, t in DataLoader(Spiral(), 64, seed=1)]
    loader = DataLoader(dataset(), 64, seed=1)
    loader.to_backend(xp)
    for (x, t), (rx, rt) in zip(loader, reference, strict=True):
        assert _strict(x) and _strict(t)
        np.testing.assert_array_equal(np.asarray(x), rx)
        np.testing.assert_array_equal(np.asarray(t), rt)
    loader.to_cpu()
    x, t = next(loader)
    assert type(x) is np.ndarray and type(t) is np.ndarray


@pytest.mark.usefixtures("core_holds_strict")
def test_the_moved_mlp_trains_with_numpys_losses() -> None:
    def run(move: bool) -> list[float]:
        np.random.seed(0)
        model = MLP((10, 3), dtype=np.float64)
        model(np.zeros((1, 2)))  # the weights, from the seeded state
        loader = DataLoader(Spiral(), 30, seed=0)
        if move:
            model.to_backend(xp)
            loader.to_backend(xp)
        losses = []
        for x, t in loader:
            loss = F.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            for p in model.params():  # the book's update, in the parameters' own library
                assert p.grad is not None
                p.data = p.data - 1.0 * p.grad.data
            assert _strict(loss.data) is move
            losses.append(float(np.asarray(loss.data)))
        model.to_cpu()
        return losses

    if "array-api-strict" not in layer_ops.ops["linear"].backends:
        with pytest.raises(TypeError, match=r"array of array-api-strict .* computes on numpy"):
            run(move=True)  # the ops compute on NumPy only: refused, never converted
        return
    moved, stayed = run(move=True), run(move=False)
    assert len(moved) == 10
    np.testing.assert_allclose(moved, stayed, rtol=1e-12, atol=0)


@pytest.mark.usefixtures("core_holds_strict")
def test_a_moved_model_saves_and_loads_its_weights(tmp_path: Any) -> None:
    model, _ = _trained()
    expected = {k: np.array(p.data, copy=True) for k, p in model.namedparams()}
    model.to_backend(xp)
    path = model.save_weights(tmp_path / "net")  # NumPy arrays in the file
    with np.load(path) as archive:
        for key, value in expected.items():
            np.testing.assert_array_equal(archive[key], value, err_msg=key)
    np.random.seed(1)
    fresh = Net()  # l0 lazy: created from the file, in the library it moved to
    fresh.to_backend(xp)
    fresh.load_weights(path)
    for key, param in fresh.namedparams():
        assert _strict(param.data), key
        np.testing.assert_array_equal(np.asarray(param.data), expected[key], err_msg=key)
    assert _strict(fresh.bn.avg_mean)
