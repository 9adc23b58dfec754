"""save_weights / load_weights: round trips, atomic writes, every mismatch named with nothing
changed, pickled files refused."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dezero_ext_nn.layers as L  # noqa: N812 - DeZero's alias
from dezero_ext_nn import _weights
from dezero_ext_nn._weights import WeightsFileError, WeightsMismatchError
from dezero_ext_nn.models import MLP, Sequential

X = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)


def _built(*sizes: int) -> MLP:
    model = MLP(sizes)
    model(X)
    return model


def _snapshot(model: L.Layer) -> dict[str, np.ndarray]:
    return {path: p.data.copy() for path, p in model.namedparams()}


def test_round_trip_restores_every_parameter_and_buffer(tmp_path: Path) -> None:
    model = Sequential(L.Linear(5), L.BatchNorm(), L.Linear(2))
    model(X)
    written = model.save_weights(tmp_path / "model.npz")
    assert written == tmp_path / "model.npz"
    with np.load(written, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(
            ["l0/W", "l0/b", "l1/gamma", "l1/beta", "l1/avg_mean", "l1/avg_var", "l2/W", "l2/b"]
        )
    other = Sequential(L.Linear(5), L.BatchNorm(), L.Linear(2))
    other(X)
    other.load_weights(written)
    for (path, p), (_, q) in zip(model.namedparams(), other.namedparams(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=path)
    bn, bn_other = model.l1, other.l1  # type: ignore[attr-defined]  # set with setattr
    np.testing.assert_array_equal(bn.avg_mean, bn_other.avg_mean)
    np.testing.assert_array_equal(other(X).data, model(X).data)


def test_loading_creates_the_weights_of_a_model_not_called_yet(tmp_path: Path) -> None:
    # DeZero's book saves a trained MLP, then loads it into a fresh one before any call.
    model = _built(6, 3)
    model.save_weights(tmp_path / "mlp.npz")
    fresh = MLP((6, 3))
    assert not fresh.built
    fresh.load_weights(tmp_path / "mlp.npz")
    assert fresh.built and fresh.layers[0].in_size == 3
    np.testing.assert_array_equal(fresh(X).data, model(X).data)


def test_npz_is_appended_as_numpy_does(tmp_path: Path) -> None:
    model = _built(2)
    assert model.save_weights(tmp_path / "weights") == tmp_path / "weights.npz"
    model.load_weights(tmp_path / "weights")


def test_saving_a_model_not_called_yet_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"l0/W, l1/W not created yet.*call the model once"):
        MLP((3, 2)).save_weights(tmp_path / "w.npz")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("build", [True, False])
def test_cast_loads_a_float32_file_into_a_float64_model(tmp_path: Path, build: bool) -> None:
    source = Sequential(L.Linear(4), L.Linear(2))
    source(X)
    source.save_weights(tmp_path / "w.npz")
    target = Sequential(L.Linear(4, dtype=np.float64), L.Linear(2, dtype=np.float64))
    if build:  # parameters created, or taking their shape from the file
        target(X.astype(np.float64))
    with pytest.raises(WeightsMismatchError, match=r"cast=True"):
        target.load_weights(tmp_path / "w.npz")
    target.load_weights(tmp_path / "w.npz", cast=True)
    for path, data in _snapshot(target).items():
        assert data.dtype == np.float64
        np.testing.assert_array_equal(data, _snapshot(source)[path].astype(np.float64))


def test_a_mismatch_names_every_problem_and_changes_nothing(tmp_path: Path) -> None:
    source = Sequential(L.Linear(4), L.Linear(2, dtype=np.float64), L.Linear(3))
    source(X)
    source.save_weights(tmp_path / "w.npz")
    target = Sequential(L.Linear(5), L.Linear(2), L.Linear(3, nobias=True))
    target(X)
    before = _snapshot(target)
    with pytest.raises(WeightsMismatchError) as info:
        target.load_weights(tmp_path / "w.npz")
    problems = info.value.problems
    assert "l0/W: shape (3, 4) in the file, (3, 5) in the model" in problems
    assert "l0/b: shape (4,) in the file, (5,) in the model" in problems
    assert "l1/W: shape (4, 2) in the file, (5, 2) in the model" in problems
    cast = " (load_weights(..., cast=True) converts it)"
    assert "l1/W: dtype float64 in the file, float32 in the model" + cast in problems
    assert "l1/b: dtype float64 in the file, float32 in the model" + cast in problems
    assert "l2/b: in the file, not in the model" in problems
    assert len(problems) == 6
    assert "nothing was loaded" in str(info.value)
    for path, data in _snapshot(target).items():
        np.testing.assert_array_equal(data, before[path])


def test_a_missing_parameter_is_named(tmp_path: Path) -> None:
    _built(2).save_weights(tmp_path / "w.npz")
    with pytest.raises(WeightsMismatchError, match="l1/W: in the model, missing from the file"):
        _built(2, 2).load_weights(tmp_path / "w.npz")


def test_a_pickled_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with open(path, "wb") as f:
        pickle.dump({"l0/W": np.ones((3, 2))}, f)
    with pytest.raises(WeightsFileError, match="allow_pickle=False"):
        _built(2).load_weights(path)


def test_an_archive_holding_an_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("l0/W.npy", "w") as member:
        np.lib.format.write_array(member, np.array([object()], dtype=object), allow_pickle=True)
    model = _built(2)
    before = _snapshot(model)
    with pytest.raises(WeightsFileError, match=r"'l0/W' holds Python objects"):
        model.load_weights(path)
    np.testing.assert_array_equal(model.layers[0].W.data, before["l0/W"])


def test_a_single_npy_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.npy"
    np.save(path, np.ones(3))
    with pytest.raises(WeightsFileError, match=r"single array \(.npy\)"):
        _built(2).load_weights(path)


def test_an_interrupted_save_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.npz"
    old = _built(2)
    old.save_weights(path)
    original = path.read_bytes()
    writer = _weights._write_npz

    def interrupted(file: object, arrays: dict[str, np.ndarray]) -> None:
        writer(file, dict(list(arrays.items())[:1]))  # type: ignore[arg-type]  # the real file
        raise KeyboardInterrupt  # Ctrl-C halfway

    monkeypatch.setattr(_weights, "_write_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _built(2).save_weights(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary left behind


def test_the_file_is_a_plain_npz_archive(tmp_path: Path) -> None:
    path = _built(2).save_weights(tmp_path / "w.npz")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["l0/W.npy", "l0/b.npy"]
    with np.load(path, allow_pickle=False) as data:
        assert data["l0/W"].dtype == np.float32


def test_loading_rebinds_so_a_recorded_graph_keeps_its_values(tmp_path: Path) -> None:
    model = _built(2)
    path = model.save_weights(tmp_path / "w.npz")
    old = model.layers[0].W.data
    old_copy = old.copy()
    model.layers[0].W.data = old + 1
    model.load_weights(path)
    np.testing.assert_array_equal(old, old_copy)  # the old array was not written into
    np.testing.assert_array_equal(model.layers[0].W.data, old_copy)
